'use strict';
// The VOD request definitions for the calls vodsnap serves, written the way
// the SDK's generated code writes them (`@huaweicloud/huaweicloud-sdk-vod`'s
// VodClient.js: a `ParamCreater` that turns a request into HcClient options,
// and a client method that hands them to `hcClient.sendRequest`). The npm
// package `@huaweicloud/huaweicloud-sdk-vod` (3.0.18-beta, the only version
// published) has `deleteAssets` but none of the snapshot calls; their paths
// and parameters here are those of the Python SDK's generated `VodClient`
// (huaweicloudsdkvod 3.1.219: `_list_thumbnail_info_http_info` and its
// siblings). Signing, sending and error mapping are the core's own.
//
// `registerThumbnails` is vodsnap's extension (POST /v1/{project_id}/asset/thumbnails),
// sent through the same HcClient so that the tests' data is made by a signed
// SDK request too.

const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder');

class VodSnapshotClient {
  constructor(hcClient) {
    this.hcClient = hcClient;
  }

  static newBuilder() {
    return new ClientBuilder((hcClient) => new VodSnapshotClient(hcClient));
  }

  getPath() {
    return __dirname;
  }

  /** ListThumbnailInfo: GET /v1/{project_id}/asset/thumbnails */
  listThumbnailInfo(request) {
    return this.send(ParamCreater.listThumbnailInfo(request));
  }

  /** ListThumbnailDetails: GET /v1/{project_id}/asset/thumbnail/details */
  listThumbnailDetails(request) {
    return this.send(ParamCreater.listThumbnailDetails(request));
  }

  /** DeleteThumbnails: DELETE /v1/{project_id}/asset/thumbnails */
  deleteThumbnails(request) {
    return this.send(ParamCreater.deleteThumbnails(request));
  }

  /** vodsnap's registration: POST /v1/{project_id}/asset/thumbnails */
  registerThumbnails(request) {
    return this.send(ParamCreater.registerThumbnails(request));
  }

  send(options) {
    options.responseHeaders = [''];
    return this.hcClient.sendRequest(options);
  }
}

class RequiredError extends Error {
  constructor(field, msg) {
    super(msg);
    this.field = field;
    this.name = 'RequiredError';
  }
}

/** Copies the parameters that are given (the generated code's `if (x !== null && x !== undefined)`). */
function query(pairs) {
  const out = {};
  for (const [key, value] of Object.entries(pairs)) {
    if (value !== null && value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

function options(method, url, queryParams, data) {
  return {
    method,
    url,
    contentType: 'application/json',
    queryParams,
    pathParams: {},
    headers: {},
    data: data === undefined ? {} : data,
  };
}

const ParamCreater = {
  listThumbnailInfo(request = {}) {
    return options('GET', '/v1/{project_id}/asset/thumbnails', query({
      asset_id: request.assetId,
      task_id: request.taskId,
      offset: request.offset,
      limit: request.limit,
    }));
  },

  listThumbnailDetails(request = {}) {
    if (request.taskId === null || request.taskId === undefined) {
      throw new RequiredError('taskId',
        'Required parameter taskId was null or undefined when calling listThumbnailDetails.');
    }
    return options('GET', '/v1/{project_id}/asset/thumbnail/details', query({
      task_id: request.taskId,
      offset: request.offset,
      limit: request.limit,
    }));
  },

  // `task_id` is an array sent as a repeated key (`collection_formats['task_id'] = 'multi'`
  // in the Python SDK; the core's querystring does the same with an array).
  deleteThumbnails(request = {}) {
    return options('DELETE', '/v1/{project_id}/asset/thumbnails', query({
      asset_id: request.assetId,
      task_id: request.taskId,
    }));
  },

  registerThumbnails(request = {}) {
    if (!request.body) {
      throw new RequiredError('body',
        'Required parameter body was null or undefined when calling registerThumbnails.');
    }
    return options('POST', '/v1/{project_id}/asset/thumbnails', {}, request.body);
  },
};

module.exports = { VodSnapshotClient, ParamCreater, RequiredError };
