#!/usr/bin/env node
// Validates recorded traffic against the contract: every WebSocket frame against the
// message payloads of docs/asyncapi.yaml, every close code against its channel's
// `x-close-codes`, every HTTP response body against docs/openapi.yaml.
//
//   node docs/check/check-traffic.mjs FILE.jsonl...
//
// Each line of a file is one record (blank lines are skipped):
//   {"ws":"/ws","dir":"in","frame":{...}}     a frame the server sent on /ws (dir "in":
//                                              received by the client); "/chat" likewise
//   {"ws":"/ws","dir":"out","frame":{...}}    a frame the client sent; with
//                                              "malformed":true it is one the client sent
//                                              on purpose against the contract, and must
//                                              then match none of the client messages
//   {"ws":"/ws","close":{"code":1008,"reason":"..."}}   a close frame the server sent
//   {"http":{"method":"GET","path":"/refresh_token","status":200,"body":{...}}}
//                                              an HTTP response; "body" is the parsed JSON,
//                                              a string for a text body, absent or null for
//                                              none; optional "contentType" picks the media
//                                              type (else JSON for objects and arrays,
//                                              text for strings)
//
// A server frame must match exactly one of the messages the server sends on that channel
// (chosen by the `const` of its `type` where the message pins one); an HTTP body must match
// the schema of its route (concrete path matched to the path templates), method, status
// and media type. Prints counts per message type and route, and every failure with its
// record and the validator's errors; exits 1 on any failure (or when there is nothing to
// check).
//
// As a library: `const check = await createChecker(); check(record)` returns
// `{ ok, key, errors }`.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_ASYNCAPI = resolve(here, '..', 'asyncapi.yaml');
export const DEFAULT_OPENAPI = resolve(here, '..', 'openapi.yaml');

const ASYNCAPI_ID = 'asyncapi.yaml';
const OPENAPI_ID = 'openapi.yaml';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const escapePointer = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Follows local `$ref`s from `pointer` in `doc`: `{ node, pointer }` of the target. */
function deref(doc, pointer) {
  for (let hops = 0; hops < 32; hops += 1) {
    const node = at(doc, pointer);
    if (node && typeof node === 'object' && typeof node.$ref === 'string') {
      if (!node.$ref.startsWith('#')) throw new Error(`only local $refs are supported: ${node.$ref}`);
      pointer = node.$ref.slice(1);
      continue;
    }
    return { node, pointer };
  }
  throw new Error(`$ref loop at ${pointer}`);
}

function at(doc, pointer) {
  if (pointer === '' || pointer === '/') return doc;
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node == null || typeof node !== 'object' || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}

function ajvFor(Class) {
  const ajv = new Class({ strict: false, allErrors: true, verbose: false });
  addFormats(ajv);
  return ajv;
}

/** The messages of one AsyncAPI channel, by direction, each with its compiled payload. */
function loadAsyncapi(doc) {
  const ajv = ajvFor(Ajv);
  ajv.addSchema(doc, ASYNCAPI_ID);
  const channels = new Map(); // address -> { send: [...], receive: [...], closeCodes }
  const byKey = new Map(); // channel key -> channel entry
  for (const [key, raw] of Object.entries(doc.channels ?? {})) {
    const { node: channel } = deref(doc, `/channels/${escapePointer(key)}`);
    const closes = deref(doc, `/channels/${escapePointer(key)}/x-close-codes`).node ?? [];
    const entry = {
      address: channel.address,
      send: [],
      receive: [],
      closeCodes: new Map(closes.map((c) => [c.code, c.meaning])),
    };
    channels.set(channel.address, entry);
    byKey.set(key, entry);
    void raw;
  }
  const seen = new Set();
  for (const [opKey, op] of Object.entries(doc.operations ?? {})) {
    const channelKey = op.channel.$ref.replace(/^#\/channels\//, '');
    const entry = byKey.get(channelKey);
    if (!entry) throw new Error(`operation ${opKey}: unknown channel ${op.channel.$ref}`);
    for (const ref of op.messages ?? []) {
      const name = ref.$ref.split('/').pop();
      const id = `${op.action}:${channelKey}:${name}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const { node: message, pointer } = deref(doc, ref.$ref.slice(1));
      const payloadAt = deref(doc, `${pointer}/payload`);
      const payload = payloadAt.node;
      const typeConst = payload?.properties?.type?.const;
      const validate = ajv.getSchema(`${ASYNCAPI_ID}#${payloadAt.pointer}`);
      if (!validate) throw new Error(`cannot compile the payload of ${ref.$ref}`);
      entry[op.action].push({
        name: message.name ?? name,
        typeConst,
        validate,
      });
    }
  }
  return channels;
}

/** Path templates of the OpenAPI document, exact paths first. */
function loadOpenapi(doc) {
  const ajv = ajvFor(Ajv2020);
  ajv.addSchema(doc, OPENAPI_ID);
  const routes = Object.keys(doc.paths ?? {}).map((template) => {
    const params = (template.match(/\{[^}]+\}/g) ?? []).length;
    const regex = new RegExp(
      `^${template
        .split(/\{[^}]+\}/)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}$`,
    );
    return { template, params, regex };
  });
  routes.sort((a, b) => a.params - b.params);
  const compiled = new Map();
  const schemaAt = (pointer) => {
    if (!compiled.has(pointer)) {
      const validate = ajv.getSchema(`${OPENAPI_ID}#${pointer}`);
      if (!validate) throw new Error(`cannot compile the schema at ${pointer}`);
      compiled.set(pointer, validate);
    }
    return compiled.get(pointer);
  };
  return { doc, routes, schemaAt };
}

function mediaMatches(pattern, type) {
  if (pattern === '*/*') return true;
  const [pMain, pSub] = pattern.split('/');
  const [tMain, tSub] = type.split('/');
  return pMain === tMain && (pSub === '*' || pSub === tSub);
}

function checkHttp(openapi, http) {
  const errors = [];
  const method = String(http.method ?? '').toLowerCase();
  const path = String(http.path ?? '').split('?')[0];
  const route = openapi.routes.find((r) => r.regex.test(path));
  const status = String(http.status);
  let key = `http ${method.toUpperCase()} ${route?.template ?? path} ${status}`;
  if (!route) return { key, errors: [`no route in the OpenAPI document matches ${path}`] };
  const opPointer = `/paths/${escapePointer(route.template)}/${method}`;
  const op = at(openapi.doc, opPointer);
  if (!METHODS.includes(method) || !op) {
    return { key, errors: [`${method.toUpperCase()} ${route.template} is not described`] };
  }
  const responses = op.responses ?? {};
  const statusKey = [status, `${status[0]}XX`, 'default'].find((k) => k in responses);
  if (!statusKey) {
    return {
      key,
      errors: [`status ${status} is not described for ${method.toUpperCase()} ${route.template}`],
    };
  }
  const { node: response, pointer } = deref(openapi.doc, `${opPointer}/responses/${statusKey}`);
  const content = response?.content ?? {};
  const body = http.body;
  const empty = body === undefined || body === null || body === '';
  if (empty) {
    if (Object.keys(content).length > 0) {
      errors.push(`an empty body, but the response is described with content (${Object.keys(content).join(', ')})`);
    }
    return { key, errors };
  }
  if (Object.keys(content).length === 0) {
    return { key, errors: ['a body, but the response is described without content'] };
  }
  const type = (
    http.contentType ?? (typeof body === 'string' ? 'text/plain' : 'application/json')
  )
    .split(';')[0]
    .trim()
    .toLowerCase();
  const candidates = Object.keys(content).filter((m) => mediaMatches(m, type));
  // A text body may be described by any text media type (text/html, text/javascript, ...).
  if (candidates.length === 0 && http.contentType === undefined && typeof body === 'string') {
    candidates.push(...Object.keys(content).filter((m) => m.startsWith('text/') || m === '*/*'));
  }
  if (candidates.length === 0) {
    return { key, errors: [`media type ${type} is not described (${Object.keys(content).join(', ')})`] };
  }
  const media = candidates[0];
  key += ` ${media}`;
  const schema = content[media]?.schema;
  if (!schema) return { key, errors };
  const validate = openapi.schemaAt(`${pointer}/content/${escapePointer(media)}/schema`);
  if (!validate(body)) errors.push(...validate.errors);
  return { key, errors };
}

function checkFrame(channel, record) {
  const dir = record.dir;
  if (dir !== 'in' && dir !== 'out') {
    return { key: `ws ${record.ws} ?`, errors: [`dir must be "in" or "out", not ${JSON.stringify(dir)}`] };
  }
  const messages = dir === 'in' ? channel.send : channel.receive;
  const frame = record.frame;
  const type =
    frame && typeof frame === 'object' && !Array.isArray(frame) && typeof frame.type === 'string'
      ? frame.type
      : undefined;
  const typed = type !== undefined && messages.some((m) => m.typeConst === type);
  const candidates = typed
    ? messages.filter((m) => m.typeConst === type)
    : messages.filter((m) => m.typeConst === undefined);
  const matching = [];
  const failures = [];
  for (const m of candidates) {
    if (m.validate(frame)) matching.push(m.name);
    else failures.push({ message: m.name, errors: m.validate.errors });
  }
  const label = matching[0] ?? type ?? (typeof frame === 'string' ? 'text' : 'untyped');
  const key = `ws ${record.ws} ${dir} ${record.malformed ? 'malformed ' : ''}${label}`;
  if (record.malformed) {
    return {
      key,
      errors: matching.length
        ? [`a frame marked malformed matches ${matching.join(', ')}: the schema accepts what the server refuses`]
        : [],
    };
  }
  if (candidates.length === 0) {
    const side = dir === 'in' ? 'the server sends' : 'a client sends';
    return { key, errors: [`no message that ${side} on ${record.ws} has type ${JSON.stringify(type)}`] };
  }
  if (matching.length === 1) return { key, errors: [] };
  if (matching.length > 1) return { key, errors: [`matches more than one message: ${matching.join(', ')}`] };
  return { key, errors: failures };
}

function checkClose(channel, record) {
  const code = record.close?.code;
  const key = `ws ${record.ws} close ${code}`;
  if (!channel.closeCodes.has(code)) {
    return { key, errors: [`close code ${code} is not among the documented ones (${[...channel.closeCodes.keys()].join(', ')})`] };
  }
  return { key, errors: [] };
}

/** Loads both documents; returns `check(record) -> { ok, key, errors }`. */
export async function createChecker({ asyncapi = DEFAULT_ASYNCAPI, openapi = DEFAULT_OPENAPI } = {}) {
  const channels = loadAsyncapi(YAML.parse(await readFile(asyncapi, 'utf8')));
  const routes = loadOpenapi(YAML.parse(await readFile(openapi, 'utf8')));
  return function check(record) {
    let result;
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      result = { key: 'invalid record', errors: ['a record must be a JSON object'] };
    } else if (record.http !== undefined) {
      result = checkHttp(routes, record.http);
    } else if (record.ws !== undefined) {
      const channel = channels.get(record.ws);
      if (!channel) {
        result = { key: `ws ${record.ws}`, errors: [`no channel ${record.ws} in the AsyncAPI document`] };
      } else if (record.close !== undefined) {
        result = checkClose(channel, record);
      } else if ('frame' in record) {
        result = checkFrame(channel, record);
      } else {
        result = { key: `ws ${record.ws}`, errors: ['a ws record needs "frame" or "close"'] };
      }
    } else {
      result = { key: 'invalid record', errors: ['a record needs "ws" or "http"'] };
    }
    return { ok: result.errors.length === 0, ...result };
  };
}

/** Checks every record of the JSON-lines `files`; returns `{ counts, failures, total }`. */
export async function checkFiles(files, options) {
  const check = await createChecker(options);
  const counts = new Map();
  const failures = [];
  let total = 0;
  for (const file of files) {
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      total += 1;
      let record;
      try {
        record = JSON.parse(line);
      } catch (e) {
        failures.push({ where: `${file}:${i + 1}`, record: line, key: 'invalid JSON', errors: [String(e)] });
        return;
      }
      const result = check(record);
      const count = counts.get(result.key) ?? { ok: 0, failed: 0 };
      count[result.ok ? 'ok' : 'failed'] += 1;
      counts.set(result.key, count);
      if (!result.ok) failures.push({ where: `${file}:${i + 1}`, record, key: result.key, errors: result.errors });
    });
  }
  return { counts, failures, total };
}

async function main(files) {
  if (files.length === 0) {
    console.error('usage: check-traffic.mjs FILE.jsonl...');
    return 2;
  }
  const { counts, failures, total } = await checkFiles(files);
  for (const [key, { ok, failed }] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${String(ok).padStart(6)} ok ${failed ? `${String(failed).padStart(4)} FAILED ` : ''} ${key}`);
  }
  for (const f of failures) {
    console.log(`\nFAILED ${f.where} (${f.key})`);
    console.log(`  record: ${JSON.stringify(f.record)}`);
    for (const e of f.errors) console.log(`  ${typeof e === 'string' ? e : JSON.stringify(e)}`);
  }
  console.log(
    `\n${total} records, ${counts.size} kinds, ${total - failures.length} valid, ${failures.length} failed`,
  );
  if (total === 0) {
    console.log('nothing to check');
    return 1;
  }
  return failures.length ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
