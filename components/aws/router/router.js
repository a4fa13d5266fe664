import cf from 'cloudfront';

// Honeycomb's thin router (CloudFront Functions, cloudfront-js-2.0, viewer request).
// https://<host>/<tenant>/... goes to the tenant's cell: the tenant is the first path segment,
// its route the store value cells.routes.store_value wrote ({"cell","origin"[,"moving_to"]}).
// A path names the tenant in every request, links and bookmarks included, with no state in
// the browser (a cookie would need a sign-in step first and would be wrong on a shared device).
// Every way out is an answer, never an exception: 404 for no or an unknown tenant, 503 when the
// store or its value fails, 308 from /<tenant> to /<tenant>/; all with cache-control: no-store.
// The origin learns the public URL from x-forwarded-host and x-forwarded-prefix (set here,
// whatever the viewer sent); it trusts them and x-honeycomb-* only with the distribution's
// secret origin header (x-honeycomb-router-key), which CloudFront adds and a viewer cannot.

const kvs = cf.kvs();
// A tenant id is a DNS label (cells.tenants), so it can never exceed the store's 512-byte keys.
const TENANT = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;
const ROUTE = '.honeycomb/route';

function reply(status, description, type, body) {
    return {
        statusCode: status,
        statusDescription: description,
        headers: {
            'content-type': { value: type },
            'cache-control': { value: 'no-store' },
        },
        body: { encoding: 'text', data: body },
    };
}

function page(status, description, message) {
    return reply(status, description, 'text/html; charset=utf-8',
        `<!doctype html><title>${status} ${description}</title><h1>${description}</h1><p>${message}</p>`);
}

// /<tenant> -> /<tenant>/ (308 keeps the method and body), the query string kept (its values as
// the viewer sent them, rebuilt as AWS's own normalize-query-string example does): without the
// slash a browser resolves relative links against /, outside the tenant.
function withSlash(request, tenant) {
    const query = [];
    const qs = request.querystring;
    for (const name in qs) {
        const item = qs[name];
        const values = item.multiValue ? item.multiValue : [item];
        for (const v of values) {
            query.push(`${name}=${v.value}`);
        }
    }
    const location = `/${tenant}/` + (query.length ? '?' + query.join('&') : '');
    return {
        statusCode: 308,
        statusDescription: 'Permanent Redirect',
        headers: { location: { value: location }, 'cache-control': { value: 'no-store' } },
    };
}

function notFound(message) {
    return page(404, 'Not Found', message);
}

function unavailable() {
    return page(503, 'Service Unavailable', 'This tenant cannot be reached right now; try again shortly.');
}

// The route in a store value, or null when the value is not one cells.routes would write.
function parseRoute(text) {
    let doc;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        return null;
    }
    if (doc === null || typeof doc !== 'object' || typeof doc.cell !== 'string'
        || typeof doc.origin !== 'string' || !HOST.test(doc.origin)) {
        return null;
    }
    const moving = doc.moving_to;
    if (moving !== undefined && moving !== null && typeof moving !== 'string') {
        return null;
    }
    return { cell: doc.cell, origin: doc.origin, moving_to: moving || null };
}

async function handler(event) {
    const request = event.request;
    const parts = request.uri.split('/');
    const tenant = parts[1];
    if (!tenant) {
        return notFound('Name your tenant in the address: /&lt;tenant&gt;/.');
    }
    if (!TENANT.test(tenant)) {
        return notFound('No such tenant.');
    }
    let text;
    try {
        text = await kvs.get(tenant);
    } catch (err) {
        // get() throws for a missing key and for a failing store alike: ask which it was.
        let known;
        try {
            known = await kvs.exists(tenant);
        } catch (err2) {
            console.log(`router: store failed for ${tenant}: ${err2}`);
            return unavailable();
        }
        if (!known) {
            return notFound('No such tenant.');
        }
        console.log(`router: store failed for ${tenant}: ${err}`);
        return unavailable();
    }
    const route = parseRoute(text);
    if (route === null) {
        console.log(`router: malformed route for ${tenant}`);
        return unavailable();
    }
    if (parts.length === 2) {
        return withSlash(request, tenant);
    }
    if (parts.slice(2).join('/') === ROUTE) {
        return reply(200, 'OK', 'application/json',
            JSON.stringify({ tenant: tenant, cell: route.cell, moving_to: route.moving_to }));
    }
    // Only the domain changes: port, protocol (https-only) and TLS come from the distribution's
    // origin. CloudFront's Host and SNI are the new domain, the name the cell's certificate holds.
    cf.updateRequestOrigin({ domainName: route.origin });
    const headers = request.headers;
    headers['x-honeycomb-tenant'] = { value: tenant };
    headers['x-honeycomb-cell'] = { value: route.cell };
    // What the viewer used: the cell builds redirects, links and Origin checks from these.
    headers['x-forwarded-host'] = { value: headers.host.value };
    headers['x-forwarded-prefix'] = { value: '/' + tenant };
    // CloudFront adds the real key as the origin's custom header; a viewer's own never passes.
    delete headers['x-honeycomb-router-key'];
    if (route.moving_to) {
        headers['x-honeycomb-moving-to'] = { value: route.moving_to };
    } else {
        delete headers['x-honeycomb-moving-to'];
    }
    return request;
}
