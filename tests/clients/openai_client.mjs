// edgelm serve driven by the official OpenAI JavaScript SDK, unchanged but for baseURL:
// a streamed chat, a completion, embeddings (the SDK asks for base64 by default and
// decodes it) and a 400 the SDK must surface as BadRequestError. Exits non-zero on the
// first mismatch. Usage: node openai_client.mjs http://127.0.0.1:PORT/v1
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused", timeout: 30000, maxRetries: 0 });

function check(ok, what) {
  if (!ok) {
    console.error(`openai_client: FAILED: ${what}`);
    process.exit(1);
  }
}

const messages = [{ role: "user", content: "the model reads" }];
const stream = await client.chat.completions.create({
  model: "any", messages, max_tokens: 8, temperature: 0, stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const choice = chunk.choices[0];
  if (!choice) continue;
  streamed += choice.delta?.content ?? "";
  if (choice.finish_reason) finish = choice.finish_reason;
}
check(chunks >= 3, `a streamed chat comes in chunks (got ${chunks})`);
check(finish === "length" || finish === "stop", `the stream ends with a finish reason (got ${finish})`);
check(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
  `the stream reports usage (got ${JSON.stringify(usage)})`);

const chat = await client.chat.completions.create({ model: "any", messages, max_tokens: 8, temperature: 0 });
check(chat.choices[0].message.content === streamed,
  `streamed and whole chat answers agree (${JSON.stringify(streamed)} vs ${JSON.stringify(chat.choices[0].message.content)})`);

const completion = await client.completions.create({ model: "any", prompt: "the model", max_tokens: 5, temperature: 0 });
check(typeof completion.choices[0].text === "string" && completion.usage.completion_tokens === 5,
  `a completion of 5 tokens (got ${JSON.stringify(completion)})`);

const emb = await client.embeddings.create({ model: "any", input: ["the model", "reads every line"] });
check(emb.data.length === 2, "two embeddings");
const v = emb.data[1].embedding;
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
check(v.length === 64 && Math.abs(norm - 1) < 1e-4, `a unit vector of the model's width (${v.length}, |v| = ${norm})`);

try {
  await client.completions.create({ model: "any", prompt: "x", max_tokens: -3 });
  check(false, "max_tokens -3 is refused");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "max_tokens",
    `a 400 naming max_tokens (got ${e})`);
}

const models = await client.models.list();
check(models.data.length === 1, "one model listed");
console.log("openai_client: ok");
