// The router's CloudFront Function run in Node against a store fixture (tests/test_router_js.py
// writes it from the sample registry through cells.routes and runs this file with `node --test`).
//
// CloudFront's `cloudfront` module exists only at the edge, so the harness removes the source's
// one import line and hands the function a fake `cf` instead: kvs() reads the fixture (and can be
// made to fail), updateRequestOrigin() records what it was asked and refuses what the edge does not
// know. The code runs in strict mode, as the edge always runs functions ("This cannot be changed").
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';

const fixture = JSON.parse(fs.readFileSync(process.env.ROUTER_FIXTURE, 'utf8'));
const IMPORT = "import cf from 'cloudfront';\n";

// The fields updateRequestOrigin() takes ("Helper methods for origin modification").
const ORIGIN_FIELDS = new Set(['domainName', 'originPath', 'customHeaders', 'connectionAttempts', 'originShield',
    'originAccessControlConfig', 'timeouts', 'customOriginConfig']);

function load(store, { failing = false, getFails = false, source = fs.readFileSync(fixture.source, 'utf8') } = {}) {
    assert.ok(source.startsWith(IMPORT), 'router.js starts with the cloudfront import');
    const origins = [];
    const logs = [];
    const missing = () => Object.assign(new Error('KeyNotFound'), { name: 'KeyNotFound' });
    const kvs = {
        async get(key) {
            if (failing || getFails) throw new Error('store unavailable');
            if (!(key in store)) throw missing();
            return store[key];
        },
        async exists(key) {
            if (failing) throw new Error('store unavailable');
            return key in store;
        },
    };
    // Objects made inside the sandbox have its prototypes: copy them out before comparing.
    const copy = (value) => JSON.parse(JSON.stringify(value));
    const updateRequestOrigin = (origin) => {
        const unknown = Object.keys(origin).filter((k) => !ORIGIN_FIELDS.has(k));
        if (unknown.length) throw new TypeError(`updateRequestOrigin: unknown fields ${unknown.join(', ')}`);
        origins.push(copy(origin));
    };
    const cf = { kvs: () => kvs, updateRequestOrigin };
    const context = { cf, console: { log: (m) => logs.push(String(m)) } };
    const run = vm.runInNewContext(`'use strict';\n${source.slice(IMPORT.length)}\n;handler`, context);
    return { handler: async (event) => copy(await run(event)), origins, logs };
}

function viewer(uri, headers = {}) {
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '192.0.2.1' },
        request: { method: 'GET', uri, querystring: {}, headers: { host: { value: fixture.host }, ...headers }, cookies: {} } };
}

function assertAnswer(result, status) {
    assert.equal(result.statusCode, status);
    assert.equal(result.headers['cache-control'].value, 'no-store');
    assert.equal(result.body.encoding, 'text');
}

test('a known tenant goes to its cell origin with the tenant and cell headers', async () => {
    const { handler, origins } = load(fixture.store);
    const route = fixture.routes.find((r) => !r.moving_to);
    const spoofed = { 'x-honeycomb-moving-to': { value: 'elsewhere' }, 'x-honeycomb-cell': { value: 'x' } };
    const out = await handler(viewer(`/${route.tenant}/orders/7`, spoofed));
    assert.deepEqual(origins, [{ domainName: route.origin }]);
    assert.equal(out.uri, `/${route.tenant}/orders/7`);
    assert.equal(out.headers['x-honeycomb-tenant'].value, route.tenant);
    assert.equal(out.headers['x-honeycomb-cell'].value, route.cell);
    assert.equal(out.headers['x-honeycomb-moving-to'], undefined);
    assert.equal(out.headers.host.value, fixture.host, 'the Host header is left to CloudFront');
});

test('the origin learns the public host and the tenant prefix, whatever the viewer sent', async () => {
    const { handler } = load(fixture.store);
    const route = fixture.routes[0];
    const spoofed = { 'x-forwarded-host': { value: 'evil.example' }, 'x-forwarded-prefix': { value: '/other' },
        'x-honeycomb-router-key': { value: 'guess' } };
    const out = await handler(viewer(`/${route.tenant}/x`, spoofed));
    assert.equal(out.headers['x-forwarded-host'].value, fixture.host);
    assert.equal(out.headers['x-forwarded-prefix'].value, `/${route.tenant}`);
    assert.equal(out.headers['x-honeycomb-router-key'], undefined, 'only CloudFront sets the router key');
});

test('no origin update touches the custom headers (an empty object would drop the router key)', async () => {
    const { handler, origins } = load(fixture.store);
    for (const route of fixture.routes) {
        await handler(viewer(`/${route.tenant}/`));
    }
    assert.equal(origins.length, fixture.routes.length);
    assert.ok(origins.every((o) => !('customHeaders' in o)), JSON.stringify(origins));
});

test('a tenant without the trailing slash is redirected with 308, its query string kept', async () => {
    const { handler, origins } = load(fixture.store);
    const route = fixture.routes[0];
    const out = await handler(viewer(`/${route.tenant}`));
    assert.equal(out.statusCode, 308);
    assert.equal(out.headers.location.value, `/${route.tenant}/`);
    assert.equal(out.headers['cache-control'].value, 'no-store');
    const query = { a: { value: '1' }, flag: { value: '' }, m: { value: 'x', multiValue: [{ value: 'x' }, { value: 'y' }] } };
    const event = viewer(`/${route.tenant}`);
    event.request.querystring = query;
    assert.equal((await handler(event)).headers.location.value, `/${route.tenant}/?a=1&flag=&m=x&m=y`);
    assert.deepEqual(origins, []);
    assertAnswer(await handler(viewer('/no-such-tenant')), 404);
});

test('the harness refuses what the edge refuses: unknown origin fields, sloppy-mode code', async () => {
    const source = fs.readFileSync(fixture.source, 'utf8');
    const typo = load(fixture.store, { source: source.replace('{ domainName: route.origin }', '{ domain: route.origin }') });
    await assert.rejects(typo.handler(viewer(`/${fixture.routes[0].tenant}/`)), /unknown fields domain/);
    const sloppy = load(fixture.store, { source: source.replace('const request = event.request;', 'request = event.request;') });
    await assert.rejects(sloppy.handler(viewer(`/${fixture.routes[0].tenant}/`)), /request is not defined/);
});

test('every registry tenant is routed to its own origin', async () => {
    const { handler, origins } = load(fixture.store);
    for (const route of fixture.routes) {
        await handler(viewer(`/${route.tenant}/`));
    }
    assert.deepEqual(origins.map((o) => o.domainName), fixture.routes.map((r) => r.origin));
});

test('an unknown tenant gets the 404 page and no origin', async () => {
    const { handler, origins } = load(fixture.store);
    const out = await handler(viewer('/no-such-tenant/x'));
    assertAnswer(out, 404);
    assert.match(out.headers['content-type'].value, /^text\/html/);
    assert.match(out.body.data, /No such tenant/);
    assert.deepEqual(origins, []);
});

test('a segment that cannot be a tenant id is a 404 without a store lookup', async () => {
    const { handler, origins } = load({ 'Upper': fixture.store[fixture.routes[0].tenant] });
    for (const uri of ['/Upper/', `/${'a'.repeat(64)}/`, '/-dash/', '/a_b/', '/%2e%2e/']) {
        assertAnswer(await handler(viewer(uri)), 404);
    }
    assert.deepEqual(origins, []);
});

test('the root path and a missing tenant segment get the 404 page', async () => {
    const { handler, origins } = load(fixture.store);
    for (const uri of ['/', '//orders']) {
        const out = await handler(viewer(uri));
        assertAnswer(out, 404);
        assert.match(out.body.data, /Name your tenant/);
    }
    assert.deepEqual(origins, []);
});

test('a tenant mid-move is routed to its current cell and reports the move in a header', async () => {
    const { handler, origins } = load(fixture.store);
    const moving = fixture.routes.find((r) => r.moving_to);
    const out = await handler(viewer(`/${moving.tenant}/`));
    assert.deepEqual(origins, [{ domainName: moving.origin }]);
    assert.equal(out.headers['x-honeycomb-cell'].value, moving.cell);
    assert.equal(out.headers['x-honeycomb-moving-to'].value, moving.moving_to);
});

test('the route endpoint answers JSON with the cell and the move, without going to an origin', async () => {
    const { handler, origins } = load(fixture.store);
    for (const route of fixture.routes) {
        const out = await handler(viewer(`/${route.tenant}/.honeycomb/route`));
        assertAnswer(out, 200);
        assert.equal(out.headers['content-type'].value, 'application/json');
        assert.deepEqual(JSON.parse(out.body.data),
            { tenant: route.tenant, cell: route.cell, moving_to: route.moving_to });
    }
    assert.deepEqual(origins, []);
});

test('a malformed store value is a 503, logged, never an exception', async () => {
    for (const value of fixture.malformed) {
        const { handler, origins, logs } = load({ broken: value });
        const out = await handler(viewer('/broken/'));
        assertAnswer(out, 503);
        assert.deepEqual(origins, []);
        assert.ok(logs.some((l) => l.includes('malformed route for broken')), value);
    }
});

test('a failing store is a 503 for known and unknown tenants alike', async () => {
    const { handler, origins, logs } = load(fixture.store, { failing: true });
    for (const tenant of [fixture.routes[0].tenant, 'no-such-tenant']) {
        assertAnswer(await handler(viewer(`/${tenant}/`)), 503);
    }
    assert.deepEqual(origins, []);
    assert.ok(logs.every((l) => l.includes('store failed')));
});

test('a get that fails for a key the store has is a 503, not a 404', async () => {
    const { handler, origins } = load(fixture.store, { getFails: true });
    assertAnswer(await handler(viewer(`/${fixture.routes[0].tenant}/`)), 503);
    assert.deepEqual(origins, []);
});
