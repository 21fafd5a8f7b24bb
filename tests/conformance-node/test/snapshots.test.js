'use strict';
// Huawei's Node SDK (HcClient, AK/SK signing) against a real `vodsnap serve`:
// list, details, delete by task ids, delete by asset, DeleteAssets, a wrong
// signature, and another project's ids left alone.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ClientRequestException } = require('@huaweicloud/huaweicloud-sdk-core/exception/ClientRequestException');
const { DeleteAssetsRequest } = require('@huaweicloud/huaweicloud-sdk-vod/v1/model/DeleteAssetsRequest');
const { server, snapshotClient, vodClient, rid, register, listedTaskIds } = require('../lib/server');

const clientA = snapshotClient(server.ak1, server.sk1, server.projA);
const clientB = snapshotClient(server.ak1, server.sk1, server.projB);
const clientC = snapshotClient(server.ak2, server.sk2, server.projC);

/** Runs `call`, which must fail with the SDK's ClientRequestException; returns it. */
async function clientError(call) {
  let answer;
  try {
    answer = await call();
  } catch (error) {
    assert.ok(error instanceof ClientRequestException,
      `expected the SDK's ClientRequestException, got ${error && error.name}: ${error && error.message}`);
    return error;
  }
  assert.fail(`expected an error answer, got success: ${JSON.stringify(answer)}`);
}

test('list: an asset\'s task results, oldest first, with the total', async () => {
  const asset = rid('a');
  const tasks = [rid('t'), rid('t')];
  for (const task of tasks) {
    await register(clientA, server.projA, asset, task, 3);
  }

  const answer = await clientA.listThumbnailInfo({ assetId: asset });

  assert.equal(answer.httpStatusCode, 200);
  assert.equal(answer.total, 2);
  assert.deepEqual(answer.thumbnails.map((t) => [t.asset_id, t.task_id, t.thumbnail_count]),
    tasks.map((t) => [asset, t, 3]));
  assert.equal(answer.thumbnails[0].thumbnail_para.type, 'time');
});

test('details: a task\'s snapshots by offset, each with its url', async () => {
  const asset = rid('a');
  const task = rid('t');
  await register(clientA, server.projA, asset, task, 3);

  const answer = await clientA.listThumbnailDetails({ taskId: task, offset: 1, limit: 2 });

  assert.equal(answer.total, 3);
  assert.deepEqual(answer.thumbnail_result.map((s) => [s.offset, s.url]), [1, 2].map((i) => [
    i * 10, `${server.publicBaseUrl}/${server.projA}/${asset}/${task}/${i}.jpg`]));
});

test('details of an unknown task: 404 VOD.10062 through the SDK\'s exception', async () => {
  const error = await clientError(() => clientA.listThumbnailDetails({ taskId: rid('none') }));

  assert.equal(error.httpStatusCode, 404);
  assert.equal(error.errorCode, 'VOD.10062');
});

test('delete by task ids: each item\'s status, and the tasks are gone', async () => {
  const asset = rid('a');
  const [t1, t2, kept] = [rid('t'), rid('t'), rid('t')];
  for (const task of [t1, t2, kept]) {
    await register(clientA, server.projA, asset, task);
  }
  const unknown = rid('none');

  const answer = await clientA.deleteThumbnails({ assetId: asset, taskId: [t1, t2, unknown] });

  assert.equal(answer.httpStatusCode, 200);
  const items = new Map(answer.delete_result_array.map((i) => [i.task_id, i]));
  assert.equal(items.size, 3);
  assert.equal(items.get(t1).status, 'DELETED');
  assert.equal(items.get(t2).status, 'DELETED');
  assert.equal(items.get(unknown).status, 'FAILED');
  assert.equal(items.get(unknown).error_code, 'VOD.10062');
  assert.equal(answer.remaining, 1);
  assert.deepEqual(await listedTaskIds(clientA, asset), [kept]);
  const error = await clientError(() => clientA.listThumbnailDetails({ taskId: t1 }));
  assert.equal(error.errorCode, 'VOD.10062');
});

test('delete by asset: its task results, oldest first, and remaining 0', async () => {
  const asset = rid('a');
  const tasks = [rid('t'), rid('t'), rid('t')];
  for (const task of tasks) {
    await register(clientA, server.projA, asset, task);
  }

  const answer = await clientA.deleteThumbnails({ assetId: asset });

  assert.deepEqual(answer.delete_result_array.map((i) => [i.asset_id, i.task_id, i.status]),
    tasks.map((t) => [asset, t, 'DELETED']));
  assert.equal(answer.remaining, 0);
  assert.deepEqual(await listedTaskIds(clientA, asset), []);
});

test('DeleteAssets (the npm package\'s VodClient): each asset DELETED, its tasks hidden', async () => {
  const [asset, other] = [rid('a'), rid('a')];
  const task = rid('t');
  await register(clientA, server.projA, asset, task);
  const kept = rid('t');
  await register(clientA, server.projA, other, kept);

  const answer = await vodClient(server.ak1, server.sk1, server.projA)
    .deleteAssets(new DeleteAssetsRequest().withAssetId([asset, rid('none')]));

  assert.equal(answer.httpStatusCode, 200);
  assert.deepEqual(answer.delete_result_array.map((i) => i.status), ['DELETED', 'DELETED']);
  assert.equal(answer.delete_result_array[0].asset_id, asset);
  assert.deepEqual(await listedTaskIds(clientA, asset), []);
  assert.deepEqual(await listedTaskIds(clientA, other), [kept]);
});

test('a wrong signature: 401 APIGW.0301, and nothing is deleted', async () => {
  const asset = rid('a');
  const task = rid('t');
  await register(clientA, server.projA, asset, task);
  const forged = snapshotClient(server.ak1, `${server.sk1}x`, server.projA);

  const error = await clientError(() => forged.deleteThumbnails({ assetId: asset, taskId: [task] }));

  assert.equal(error.httpStatusCode, 401);
  assert.equal(error.errorCode, 'APIGW.0301');
  assert.deepEqual(await listedTaskIds(clientA, asset), [task]);
});

test('another project\'s task and asset ids are untouched by every delete', async () => {
  const asset = rid('a');
  const task = rid('t');
  // The same asset and task ids in three projects: A deletes, B (same AK) and C (another AK) keep theirs.
  await register(clientA, server.projA, asset, task);
  await register(clientB, server.projB, asset, task);
  await register(clientC, server.projC, asset, task);

  const byTask = await clientA.deleteThumbnails({ taskId: [task] });
  const byAsset = await clientA.deleteThumbnails({ assetId: asset });
  const assets = await vodClient(server.ak1, server.sk1, server.projA)
    .deleteAssets(new DeleteAssetsRequest().withAssetId([asset]));

  assert.deepEqual(byTask.delete_result_array.map((i) => i.status), ['DELETED']);
  assert.deepEqual(byAsset.delete_result_array, []);
  assert.deepEqual(assets.delete_result_array.map((i) => i.status), ['DELETED']);
  assert.deepEqual(await listedTaskIds(clientA, asset), []);
  assert.deepEqual(await listedTaskIds(clientB, asset), [task]);
  assert.deepEqual(await listedTaskIds(clientC, asset), [task]);
  const details = await clientB.listThumbnailDetails({ taskId: task });
  assert.equal(details.total, 2);
  // Project C's credential cannot reach project A's or B's ids at all.
  const denied = await clientError(() => snapshotClient(server.ak2, server.sk2, server.projB)
    .deleteThumbnails({ taskId: [task] }));
  assert.equal(denied.httpStatusCode, 403);
  assert.equal(denied.errorCode, 'VOD.10057');
  assert.deepEqual(await listedTaskIds(clientB, asset), [task]);
});
