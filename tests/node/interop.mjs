// The original system's side of the queue, with the Node.js BullMQ it used, for
// tests/integration/pipelines/test_node_interop.py.  One JSON object per stdout line.
//
//   node interop.mjs produce <redisUrl> <prefix> <taskId> <optionsJson>
//       adds a vk-collect job exactly as the original's addVkCollectJob did
//   node interop.mjs consume <redisUrl> <prefix> <queue> <count>
//       a Worker that prints every field the original's processors read, then exits
//   node interop.mjs events <redisUrl> <prefix> <queue> <jobId>
//       QueueEvents: prints {"ready": true}, then progress and the completion of <jobId>
import { Queue, QueueEvents, Worker } from "bullmq";

const [command, redisUrl, prefix, ...rest] = process.argv.slice(2);

function connection(url) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.replace("/", "") || 0),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    maxRetriesPerRequest: null,
  };
}

const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

async function produce(taskId, optionsJson) {
  const queue = new Queue("vk-collect", { connection: connection(redisUrl), prefix });
  const id = Number(taskId);
  // backend/src/services/queueService.ts addVkCollectJob at 2db60e4: no metadata.groups
  const job = await queue.add(
    "vk-collect",
    { type: "fetch_comments", metadata: { options: JSON.parse(optionsJson) }, taskId: id },
    {
      attempts: 5,
      backoff: { type: "exponential", delay: 5000 },
      removeOnComplete: 100,
      removeOnFail: 50,
      priority: 10,
      jobId: `vk-collect-${id}`,
      delay: 0,
    },
  );
  print({ jobId: job.id });
  await queue.close();
}

function readVkCollect(job) {
  // what VkCollectWorker.processJob read: taskId, type, metadata.options.*
  const { taskId, type, metadata } = job.data;
  const options = metadata?.options ?? {};
  return {
    taskId,
    type,
    limit: options.limit ?? null,
    includeReplies: options.includeReplies ?? null,
    filterWords: options.filterWords ?? null,
    hasToken: "token" in options,
  };
}

function readProcessGroups(job) {
  // what GroupsParseWorker (1d825b3) read: taskId, type, metadata.{groupIdentifiers,...}
  const { taskId, type, metadata } = job.data;
  return {
    taskId,
    type,
    groupIdentifiers: metadata.groupIdentifiers,
    source: metadata.source,
    originalFileName: metadata.originalFileName ?? null,
  };
}

async function consume(queueName, count) {
  let left = Number(count);
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const worker = new Worker(
    queueName,
    async (job) => {
      const read = queueName === "vk-collect" ? readVkCollect(job) : readProcessGroups(job);
      print({ id: job.id, name: job.name, attempts: job.opts.attempts, data: read });
      left -= 1;
      if (left === 0) setImmediate(done);
      return { success: true, taskId: job.data.taskId };
    },
    { connection: connection(redisUrl), prefix, concurrency: 1 },
  );
  await worker.waitUntilReady();
  print({ ready: true });
  await finished;
  await worker.close();
}

async function events(queueName, jobId) {
  const queueEvents = new QueueEvents(queueName, { connection: connection(redisUrl), prefix });
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  queueEvents.on("progress", ({ jobId: id, data }) => {
    if (id === jobId) print({ event: "progress", data });
  });
  queueEvents.on("completed", ({ jobId: id, returnvalue }) => {
    if (id !== jobId) return;
    print({ event: "completed", returnvalue });
    done();
  });
  queueEvents.on("failed", ({ jobId: id, failedReason }) => {
    if (id !== jobId) return;
    print({ event: "failed", failedReason });
    done();
  });
  await queueEvents.waitUntilReady();
  print({ ready: true });
  await finished;
  await queueEvents.close();
}

const commands = { produce, consume, events };
if (!commands[command]) {
  process.stderr.write(`unknown command ${command}; use produce, consume or events\n`);
  process.exit(2);
}
await commands[command](...rest);
