'use strict';
// The `vodsnap serve` under test, started by `cargo xtask test` (one per
// store), and SDK clients for it. xtask passes the server and the
// credentials it seeded in the environment:
//
//   VODSNAP_NODE_ENDPOINT   http://127.0.0.1:PORT
//   VODSNAP_NODE_AK1, VODSNAP_NODE_SK1   granted projects A and B
//   VODSNAP_NODE_AK2, VODSNAP_NODE_SK2   granted project C
//   VODSNAP_NODE_PROJECT_A, _B, _C
//   VODSNAP_NODE_PUBLIC_BASE_URL         the server's --public-base-url

const crypto = require('node:crypto');
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials');
const { VodClient } = require('@huaweicloud/huaweicloud-sdk-vod/v1/VodClient');
const { VodSnapshotClient } = require('./vod');

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this suite through \`cargo xtask test\` ` +
      '(it starts vodsnap serve and sets the VODSNAP_NODE_* variables)');
  }
  return value;
}

const server = {
  endpoint: required('VODSNAP_NODE_ENDPOINT'),
  ak1: required('VODSNAP_NODE_AK1'),
  sk1: required('VODSNAP_NODE_SK1'),
  ak2: required('VODSNAP_NODE_AK2'),
  sk2: required('VODSNAP_NODE_SK2'),
  projA: required('VODSNAP_NODE_PROJECT_A'),
  projB: required('VODSNAP_NODE_PROJECT_B'),
  projC: required('VODSNAP_NODE_PROJECT_C'),
  publicBaseUrl: required('VODSNAP_NODE_PUBLIC_BASE_URL'),
};

function credentials(ak, sk, project) {
  return new BasicCredentials().withAk(ak).withSk(sk).withProjectId(project);
}

/** The snapshot calls (list, details, delete, register) through HcClient. */
function snapshotClient(ak, sk, project) {
  return VodSnapshotClient.newBuilder()
    .withCredential(credentials(ak, sk, project))
    .withEndpoint(server.endpoint)
    .build();
}

/** The npm package's own generated client, for DeleteAssets. */
function vodClient(ak, sk, project) {
  return VodClient.newBuilder()
    .withCredential(credentials(ak, sk, project))
    .withEndpoint(server.endpoint)
    .build();
}

/** A fresh id of [A-Za-z0-9_-], unique per call. */
function rid(prefix) {
  return `${prefix}_${crypto.randomBytes(8).toString('hex')}`;
}

/** Registers a task result of `count` snapshots under the project's prefix. */
async function register(client, project, assetId, taskId, count = 2) {
  const thumbnails = [];
  for (let i = 0; i < count; i += 1) {
    thumbnails.push({ offset: i * 10, object_key: `${project}/${assetId}/${taskId}/${i}.jpg` });
  }
  const answer = await client.registerThumbnails({
    body: {
      asset_id: assetId,
      task_id: taskId,
      thumbnail_para: { type: 'time', time: 10 },
      thumbnails,
    },
  });
  if (answer.httpStatusCode !== 201) {
    throw new Error(`registration answered ${answer.httpStatusCode}: ${JSON.stringify(answer)}`);
  }
  return answer;
}

/** The task ids the list call shows for an asset, in its order. */
async function listedTaskIds(client, assetId) {
  const answer = await client.listThumbnailInfo({ assetId, limit: 100 });
  return answer.thumbnails.map((t) => t.task_id);
}

module.exports = { server, snapshotClient, vodClient, rid, register, listedTaskIds };
