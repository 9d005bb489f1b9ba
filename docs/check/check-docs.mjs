#!/usr/bin/env node
// Validates the two machine-readable contracts with their ecosystems' own parsers:
// docs/asyncapi.yaml with the AsyncAPI parser (@asyncapi/parser: the AsyncAPI 3.0 JSON
// Schema, the payload schemas, and its Spectral rules), docs/openapi.yaml with
// @readme/openapi-parser (the OpenAPI 3.1 schema, $refs, duplicate parameters and
// operation IDs, ...) and every schema object of it against the JSON Schema 2020-12
// meta-schema. Also the project's own rules: every payload of asyncapi.yaml pins its
// `type` with `const` (but the two /chat frames that have none by contract), and every
// payload the server sends lists every field (`additionalProperties: false`, nested
// objects too). Prints what it checked; exits 1 on any error, and on any AsyncAPI
// diagnostic of severity error.
//
//   node docs/check/check-docs.mjs [ASYNCAPI_FILE] [OPENAPI_FILE]

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { validate, compileErrors } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const asyncapiFile = resolve(process.argv[2] ?? resolve(here, '..', 'asyncapi.yaml'));
const openapiFile = resolve(process.argv[3] ?? resolve(here, '..', 'openapi.yaml'));

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

let failed = false;

async function checkAsyncapi() {
  const text = await readFile(asyncapiFile, 'utf8');
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, { source: asyncapiFile });
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? ` at ${d.path.join('.')}` : '';
    console.log(`asyncapi ${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message}${where}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (!document || errors.length > 0) {
    console.log(`FAIL ${asyncapiFile}: ${errors.length} error(s)`);
    failed = true;
    return;
  }
  const channels = document.channels().all();
  let messages = 0;
  for (const channel of channels) {
    const own = channel.messages().all();
    messages += own.length;
    console.log(
      `asyncapi channel ${channel.address()}: ${own.length} messages (${own
        .map((m) => m.name() ?? m.id())
        .join(', ')})`,
    );
  }
  const rules = contractRules(YAML.parse(text));
  for (const problem of rules.problems) console.log(`asyncapi error: ${problem}`);
  if (rules.problems.length > 0) {
    console.log(`FAIL ${asyncapiFile}: ${rules.problems.length} message(s) break the project's rules`);
    failed = true;
    return;
  }
  console.log(
    `asyncapi: ${rules.pinned} payloads pin their type with const (untyped by design: ${rules.untyped.join(', ')}); ` +
      `${rules.closed} server-to-client payloads list every field (additionalProperties: false, nested objects too)`,
  );
  const operations = document.operations().all();
  const sends = operations.filter((o) => o.action() === 'send').length;
  const receives = operations.filter((o) => o.action() === 'receive').length;
  console.log(
    `ok ${asyncapiFile}: AsyncAPI ${document.version()}, ${channels.length} channels, ` +
      `${messages} channel messages, ${operations.length} operations (${receives} receive, ${sends} send), ` +
      `${diagnostics.length} diagnostics, none of severity error`,
  );
}

// The /chat frames that carry no `type` by contract: the client's plain text and the bot's
// message object (both as in the first version of the protocol).
const UNTYPED = new Set(['chat:chatText', 'chat:chatReply']);

/**
 * The project's own rules for asyncapi.yaml: every JSON payload pins its `type` with
 * `const` (but the /chat frames that have none by contract), and every payload the server
 * sends allows no field it does not list, in nested objects too.
 */
function contractRules(doc) {
  const problems = [];
  const untyped = [];
  let pinned = 0;
  let closed = 0;
  const resolve = (node) => {
    for (let i = 0; node && typeof node.$ref === 'string' && i < 32; i += 1) {
      node = node.$ref
        .slice(2)
        .split('/')
        .reduce((n, part) => n?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    }
    return node;
  };
  const openObjects = (schema, where, seen = new Set()) => {
    schema = resolve(schema);
    if (!schema || typeof schema !== 'object' || seen.has(schema)) return [];
    seen.add(schema);
    const found = [];
    const isObject = schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'));
    if ((isObject || schema.properties) && schema.additionalProperties !== false) found.push(where);
    for (const [name, sub] of Object.entries(schema.properties ?? {})) found.push(...openObjects(sub, `${where}.${name}`, seen));
    if (schema.items) found.push(...openObjects(schema.items, `${where}[]`, seen));
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      for (const [i, sub] of (schema[key] ?? []).entries()) found.push(...openObjects(sub, `${where}.${key}[${i}]`, seen));
    }
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      found.push(...openObjects(schema.additionalProperties, `${where}.*`, seen));
    }
    return found;
  };
  const sent = new Set();
  for (const op of Object.values(doc.operations ?? {})) {
    if (op.action !== 'send') continue;
    for (const ref of op.messages ?? []) sent.add(`${op.channel.$ref.split('/').pop()}:${ref.$ref.split('/').pop()}`);
  }
  for (const [channelKey, channel] of Object.entries(doc.channels ?? {})) {
    for (const [key, ref] of Object.entries(channel.messages ?? {})) {
      const id = `${channelKey}:${key}`;
      const payload = resolve(resolve(ref)?.payload);
      if (UNTYPED.has(id)) {
        untyped.push(id);
      } else if (typeof resolve(payload?.properties?.type)?.const !== 'string') {
        problems.push(`${id}: the payload does not pin "type" with const`);
      } else {
        pinned += 1;
      }
      if (sent.has(id) && payload?.type === 'object') {
        const open = openObjects(payload, id);
        if (open.length) problems.push(`${id}: objects that allow fields they do not list: ${open.join(', ')}`);
        else closed += 1;
      }
    }
  }
  return { problems, untyped, pinned, closed };
}

async function checkOpenapi() {
  // Parsed here (YAML) so that a syntax error names the file; the validator then checks
  // the document against the OpenAPI 3.1 schema and its own rules.
  const api = YAML.parse(await readFile(openapiFile, 'utf8'));
  if (api?.openapi !== '3.1.0') {
    console.log(`FAIL ${openapiFile}: openapi must be 3.1.0, not ${api?.openapi}`);
    failed = true;
    return;
  }
  const result = await validate(structuredClone(api));
  if (!result.valid) {
    console.log(compileErrors(result));
    console.log(`FAIL ${openapiFile}`);
    failed = true;
    return;
  }
  if (result.warnings?.length) {
    console.log(compileErrors({ ...result, errors: result.warnings }));
  }
  // The OpenAPI 3.1 schema takes Schema Objects as they come; check each against the JSON
  // Schema 2020-12 meta-schema too, so a keyword with a wrong value is an error here.
  const ajv = new Ajv2020({ strict: false });
  let schemas = 0;
  let invalid = 0;
  for (const [where, schema] of schemaObjects(api)) {
    schemas += 1;
    if (!ajv.validateSchema(schema)) {
      console.log(`openapi error: the schema at ${where} is not valid JSON Schema 2020-12: ${ajv.errorsText(ajv.errors)}`);
      invalid += 1;
    }
  }
  if (invalid > 0) {
    console.log(`FAIL ${openapiFile}: ${invalid} of ${schemas} schema objects are not valid JSON Schema`);
    failed = true;
    return;
  }
  let operations = 0;
  const statuses = new Set();
  for (const [path, item] of Object.entries(api.paths ?? {})) {
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']) {
      const op = item[method];
      if (!op) continue;
      operations += 1;
      const codes = Object.keys(op.responses ?? {});
      codes.forEach((c) => statuses.add(c));
      console.log(`openapi ${method.toUpperCase()} ${path}: ${codes.join(' ')}`);
    }
  }
  console.log(
    `ok ${openapiFile}: OpenAPI ${api.openapi}, ${Object.keys(api.paths ?? {}).length} paths, ` +
      `${operations} operations, statuses ${[...statuses].sort().join(' ')}, ` +
      `${schemas} schema objects valid JSON Schema 2020-12, ${result.warnings?.length ?? 0} warnings`,
  );
}

/** Every Schema Object of an OpenAPI document: `[where, schema]`. */
function* schemaObjects(api) {
  for (const [name, schema] of Object.entries(api.components?.schemas ?? {})) {
    yield [`components.schemas.${name}`, schema];
  }
  function* ofParameters(where, parameters) {
    for (const [i, p] of (parameters ?? []).entries()) {
      if (p.schema) yield [`${where}.parameters[${i}].schema`, p.schema];
    }
  }
  function* ofContent(where, content) {
    for (const [media, m] of Object.entries(content ?? {})) {
      if (m.schema) yield [`${where}.content[${media}].schema`, m.schema];
    }
  }
  function* ofResponse(where, response) {
    yield* ofContent(where, response.content);
    for (const [name, h] of Object.entries(response.headers ?? {})) {
      if (h.schema) yield [`${where}.headers.${name}.schema`, h.schema];
    }
  }
  yield* ofParameters('components', Object.values(api.components?.parameters ?? {}));
  for (const [name, r] of Object.entries(api.components?.responses ?? {})) {
    yield* ofResponse(`components.responses.${name}`, r);
  }
  for (const [path, item] of Object.entries(api.paths ?? {})) {
    yield* ofParameters(`paths.${path}`, item.parameters);
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']) {
      const op = item[method];
      if (!op) continue;
      const where = `paths.${path}.${method}`;
      yield* ofParameters(where, op.parameters);
      if (op.requestBody) yield* ofContent(`${where}.requestBody`, op.requestBody.content);
      for (const [status, r] of Object.entries(op.responses ?? {})) yield* ofResponse(`${where}.responses.${status}`, r);
    }
  }
}

for (const [name, check] of [
  ['asyncapi', checkAsyncapi],
  ['openapi', checkOpenapi],
]) {
  try {
    await check();
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
