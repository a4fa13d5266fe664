"""The thin global router: `https://<host>/<tenant>/...` reaches the tenant's cell.

A CloudFront distribution on the router's host runs a CloudFront Function (`router/router.js`,
runtime `cloudfront-js-2.0`) on every viewer request. It reads the tenant's route from a
CloudFront KeyValueStore (key: tenant id, value: `cells.routes.store_value`) and sends the request
to the tenant's cell origin with `cf.updateRequestOrigin`, or answers itself (unknown tenant, a
failing store, the `/<tenant>/.honeycomb/route` report). Nothing is cached: every request picks
its origin again, so a flip takes effect as soon as the store has it.

The registry owns which keys exist; moves own their values. `cellctl tenants move` writes a key
directly (an ETag-conditioned PutKey through the store's ARN, seconds per flip, no stack lock),
so each key ignores changes to its `value`: an engine run never undoes a move in flight, and a
tenant file edited without a move never sends a tenant to a cell that lacks its data. A key is
created with the registry's route and deleted with the tenant.

Every resource goes through the one provider passed in: us-east-1 (CloudFront takes viewer
certificates from ACM in us-east-1 only) in the account holding the parent zone, where the
certificate's validation record and the host's alias records live. Non-goals: custom domains
(they are the tenant records' concern), caching, WAF.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import pulumi
import pulumi_aws as aws

from cells.routes import STORE_KEY_MAX_BYTES, Route

#: CloudFront Functions quota: the function's code is at most 10 KB.
FUNCTION_MAX_BYTES = 10 * 1024
#: CloudFront KeyValueStore quota: keys and values of a store add up to at most 5 MB.
STORE_MAX_BYTES = 5 * 1024 * 1024
RUNTIME = "cloudfront-js-2.0"
#: Managed policies (CloudFront developer guide, "Use managed cache policies" and "Use managed
#: origin request policies"): CachingDisabled, and AllViewerExceptHostHeader, which forwards every
#: viewer header, cookie and query string but Host, so CloudFront sends the origin's own name as
#: Host and TLS server name: the name the cell's certificate holds, whatever origin the function picks.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
#: The hosted zone of every CloudFront distribution, the target zone of alias records to one.
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
#: Viewer TLS: SNI (no dedicated IPs) and the current TLS 1.2 security policy.
SSL_SUPPORT_METHOD = "sni-only"
MINIMUM_PROTOCOL_VERSION = "TLSv1.2_2021"
ORIGIN_ID = "cell"
#: The secret origin header CloudFront adds to every request it sends a cell: the cell trusts the
#: router's `x-honeycomb-*` and `x-forwarded-*` headers only when this header holds the key. A viewer
#: cannot set it (CloudFront replaces a viewer's header of a custom header's name), and the function
#: never passes `customHeaders` to `updateRequestOrigin` (an empty object would drop it), so every
#: origin the function picks inherits it ("Helper methods for origin modification").
ROUTER_KEY_HEADER = "x-honeycomb-router-key"
#: What the JavaScript runtime 2.0 of CloudFront Functions lacks ("JavaScript runtime 2.0 features
#: for CloudFront Functions", "Restrictions on CloudFront Functions"), as patterns over the code with
#: its comments, strings and regular expression literals blanked (`code_only`), and why.
UNSUPPORTED = {
    r"\?\.(?!\d)": "optional chaining (`?.`) is not among the runtime's features",
    r"\?\?": "nullish coalescing (`??`) is not among the runtime's features",
    # Only a top-level `async function` declaration (the handler) may be async.
    r"(?<!^)\basync\b|^async\b(?!\s+function\s+\w)": (
        "async closures are not supported; only top-level `async function` declarations"
    ),
    r"\b(fetch|XMLHttpRequest)\b": "functions have no network access",
    r"\b(setTimeout|setInterval|setImmediate)\b": "functions have no timers",
    r"\beval\s*\(|\bnew\s+Function\b": "dynamic code evaluation is not allowed",
}
#: The runtime's modules, loaded with `import x from '<module>';` or `require('<module>')`.
MODULES = ("cloudfront", "crypto", "querystring", "buffer")
_MODULE_USE = re.compile(r"^[ \t]*import\b|\brequire\s*\(", flags=re.MULTILINE)
_MODULE_OK = re.compile(r"[ \t]*(?:import\s+\w+\s+from\s+|require\s*\(\s*)'(" + "|".join(MODULES) + r")'(?:;|\s*\))")
#: After these (or at the start), `/` opens a regular expression literal rather than dividing.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {""}
_REGEX_KEYWORDS = ("return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw")
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


def function_code() -> str:
    """The function's JavaScript, shipped as package data beside this module."""
    return resources.files("components.aws").joinpath("router", "router.js").read_text(encoding="utf-8")


def store_entries(routes: Sequence[Route]) -> dict[str, str]:
    """The store's keys and values for `routes`, checked against the store's quotas.

    Raises `ValueError` naming the tenant or the figure: a duplicate tenant, a key over 512 bytes,
    a value over 1 KB (`store_value` itself refuses it) or a store over 5 MB.
    """
    entries: dict[str, str] = {}
    for route in routes:
        if route.tenant in entries:
            raise ValueError(f"router store: tenant {route.tenant!r} has two routes")
        if len(route.tenant.encode()) > STORE_KEY_MAX_BYTES:
            raise ValueError(f"router store: tenant id {route.tenant!r} is over {STORE_KEY_MAX_BYTES} bytes")
        entries[route.tenant] = route.store_value()
    size = store_bytes(entries)
    if size > STORE_MAX_BYTES:
        raise ValueError(f"router store: {len(entries)} routes take {size} bytes, over the store's 5 MB")
    return entries


def store_bytes(entries: dict[str, str]) -> int:
    """What the entries take in a store: every key's and value's UTF-8 bytes."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in entries.items())


def checked_code(code: str) -> str:
    """`code` when it fits a CloudFront Function and uses only the 2.0 runtime's features; else `ValueError`."""
    size = len(code.encode())
    if size > FUNCTION_MAX_BYTES:
        raise ValueError(f"router function is {size} bytes, over CloudFront Functions' {FUNCTION_MAX_BYTES}")
    if not code.startswith("import cf from 'cloudfront';"):
        raise ValueError("router function must start with `import cf from 'cloudfront';` (cloudfront-js-2.0)")
    bare = code_only(code)
    found_at: list[tuple[int, str, str]] = []
    for pattern, why in UNSUPPORTED.items():
        found = re.search(pattern, bare, flags=re.MULTILINE)
        if found:
            found_at.append((found.start(), found.group(0), why))
    for use in _MODULE_USE.finditer(bare):
        start = bare.rfind("\n", 0, use.start()) + 1 if use.group(0).lstrip().startswith("import") else use.start()
        if not _MODULE_OK.match(code, start):
            found_at.append((use.start(), use.group(0), f"the runtime's modules are {', '.join(MODULES)}"))
    if found_at:
        start, text, why = min(found_at)
        line = code.count("\n", 0, start) + 1
        raise ValueError(f"router function, line {line}: {text.strip()!r}: {why}")
    return code


def code_only(code: str) -> str:
    """`code` with its comments, string and template texts and regular expression literals blanked.

    Every blanked character becomes a space (newlines stay), so positions and line numbers hold and
    the patterns of `UNSUPPORTED` see only code: `// a ?? b` or `/^v?.x$/` are not refused. A
    template's `${...}` stays code. A lexer, not a parser: enough for one hand-written function.
    """
    out = list(code)
    i, n = 0, len(code)
    braces: list[int] = []  # per open template substitution, the depth of `{` inside it
    last = ""  # the last significant code token's last character, or a keyword

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    def template(j: int) -> int:
        """From inside a template's text at `j`: the index after its closing backtick or its `${`."""
        while j < n and code[j] != "`":
            if code[j] == "\\":
                j += 1
            elif code.startswith("${", j):
                return j + 2
            j += 1
        return j + 1

    while i < n:
        c = code[i]
        if code.startswith("//", i):
            end = code.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif c in "'\"":
            j = i + 1
            while j < n and code[j] != c and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            blank(i + 1, j)
            i, last = j + 1, "x"
        elif c == "`" or (c == "}" and braces and braces[-1] == 0):
            if c == "}":
                braces.pop()
            end = template(i + 1)
            blank(i + 1, end - (2 if code.startswith("${", end - 2) else 1))
            if code.startswith("${", end - 2):
                braces.append(0)
            i, last = end, "x" if not code.startswith("${", end - 2) else "{"
        elif c == "/" and (last in _REGEX_AFTER or last in _REGEX_KEYWORDS):
            j, in_class = i + 1, False
            while j < n and code[j] != "\n" and (in_class or code[j] != "/"):
                if code[j] == "\\":
                    j += 1
                elif code[j] in "[]":
                    in_class = code[j] == "["
                j += 1
            blank(i + 1, j)
            i, last = j + 1, "x"
        else:
            if braces and c in "{}":
                braces[-1] += 1 if c == "{" else -1
            if c.isalnum() or c in "_$":
                word = re.match(r"[\w$]+", code[i:])
                assert word is not None
                last = word.group(0) if word.group(0) in _REGEX_KEYWORDS else "x"
                i += len(word.group(0))
                continue
            if not c.isspace():
                last = c
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class TenantRouterArgs:
    routes: Sequence[Route]
    """Every tenant's route (`cells.routes.routes`): one store key each."""
    host: str
    """The router's host name, e.g. app.cells.acme-corp.net (`cells.routes.router_host`)."""
    zone_id: pulumi.Input[str]
    """Route53 id of the parent zone holding `host`, in the provider's account."""
    default_origin: str
    """The distribution's origin: a cell's serving host. The function replaces its domain per request
    and keeps its connection settings; a request the function does not route never reaches it."""
    router_key: pulumi.Input[str]
    """The secret value of `ROUTER_KEY_HEADER` (a Pulumi secret: the stack's `routerOriginSecret`)."""
    price_class: str = "PriceClass_All"
    """CloudFront edge locations to serve from: tenants anywhere get their nearest edge."""


class TenantRouter(pulumi.ComponentResource):
    store_arn: pulumi.Output[str]
    store_id: pulumi.Output[str]
    store_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_domain: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: TenantRouterArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:TenantRouter", name, None, opts)
        entries = store_entries(args.routes)
        code = checked_code(function_code())
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        store = aws.cloudfront.KeyValueStore(
            f"{name}-store",
            name=f"{name}-tenants",
            comment="Tenant id -> route (cells.routes.store_value); values written by tenant moves",
            opts=child,
        )
        for tenant, value in entries.items():
            aws.cloudfront.KeyvaluestoreKey(
                f"{name}-route-{tenant}",
                key_value_store_arn=store.arn,
                key=tenant,
                value=value,
                # A move writes the value itself; the stack only creates and deletes the key.
                opts=pulumi.ResourceOptions(parent=self, provider=provider, ignore_changes=["value"]),
            )
        function = aws.cloudfront.Function(
            f"{name}-function",
            name=f"{name}-router",
            runtime=RUNTIME,
            comment="Routes /<tenant>/... to the tenant's cell (router.js)",
            code=code,
            publish=True,
            # One store per function is CloudFront's limit.
            key_value_store_associations=[store.arn],
            opts=child,
        )
        validated = self._certificate(name, args, child)
        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            comment=f"Honeycomb router {args.host}",
            aliases=[args.host],
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=args.default_origin,
                    custom_headers=[
                        aws.cloudfront.DistributionOriginCustomHeaderArgs(
                            name=ROUTER_KEY_HEADER, value=pulumi.Output.secret(args.router_key)
                        )
                    ],
                    # Inherited by every origin the function picks (updateRequestOrigin keeps what it
                    # is not given): HTTPS to the cell's ingress on 443, TLS 1.2.
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                    ),
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=ALL_METHODS,
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_DISABLED,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                # No `compress`: CloudFront compresses only under a cache policy that enables gzip and
                # Brotli ("Serve compressed files"), and CachingDisabled does not; cells compress.
                function_associations=[
                    aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                        event_type="viewer-request", function_arn=function.arn
                    )
                ],
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=validated.certificate_arn,
                ssl_support_method=SSL_SUPPORT_METHOD,
                minimum_protocol_version=MINIMUM_PROTOCOL_VERSION,
            ),
            opts=child,
        )
        for kind in ("A", "AAAA"):
            aws.route53.Record(
                f"{name}-alias-{kind.lower()}",
                zone_id=args.zone_id,
                name=args.host,
                type=kind,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=distribution.domain_name, zone_id=CLOUDFRONT_ZONE_ID, evaluate_target_health=False
                    )
                ],
                opts=child,
            )
        self.store_arn = store.arn
        # The store's own id (the ARN's last part), which `cf.kvs(id)` and the console name it by.
        self.store_id = store.arn.apply(lambda arn: arn.rsplit("/", 1)[-1])
        self.store_name = store.name
        self.function_arn = function.arn
        self.certificate_arn = validated.certificate_arn
        self.distribution_id = distribution.id
        self.distribution_domain = distribution.domain_name
        self.url = pulumi.Output.from_input(f"https://{args.host}/")
        self.register_outputs(
            {
                "store_arn": self.store_arn,
                "store_id": self.store_id,
                "store_name": self.store_name,
                "function_arn": self.function_arn,
                "certificate_arn": self.certificate_arn,
                "distribution_id": self.distribution_id,
                "distribution_domain": self.distribution_domain,
                "url": self.url,
            }
        )

    def _certificate(
        self, name: str, args: TenantRouterArgs, child: pulumi.ResourceOptions
    ) -> aws.acm.CertificateValidation:
        """The host's ACM certificate, validated by DNS in the parent zone.

        One name, so ACM asks for exactly one validation record: it is created from the
        certificate's first validation option, never inside an `apply`.
        """
        certificate = aws.acm.Certificate(
            f"{name}-certificate", domain_name=args.host, validation_method="DNS", opts=child
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-certificate-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # ACM's record for a name is the same for every certificate of it: a replacement
            # certificate's record may already be there.
            allow_overwrite=True,
            opts=child,
        )
        return aws.acm.CertificateValidation(
            f"{name}-certificate-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
