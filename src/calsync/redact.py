"""Redaction of secrets from text and structured values: the last line of defence before a log line leaves.

calsync's own code is written so that it never logs a secret (the Graph client logs paths without query
values, the store logs URLs without passwords). This module catches what slips through anyway: a
third-party library's message (httpx logs every request URL, and iCalendar feed URLs carry `?token=...`),
an exception text quoting a request body, a field someone added without thinking. So it errs on the side
of hiding too much; "[redacted]" in a log line costs a little context, a leaked token costs a revocation.

Two mechanisms:
- patterns for things that look secret wherever they appear: URL query strings and fragments, userinfo in
  URLs, `Bearer`/`Basic` credentials, `Authorization:`/`Cookie:` header values, JWTs, PEM blocks, and
  `key=value` / `"key": value` pairs whose key names a secret (`client_secret`, `password`, `...token`, ...);
- literal values registered at start-up (`register_secret`): the client secret, a key password, the token of
  the feed URL template. They are matched by one compiled alternation, rebuilt on registration, so the
  per-line cost stays one regex scan however many secrets there are.
- URL tokens registered in bulk (`register_feed_urls`: the per-person parts of thousands of mapped feed
  URLs). An alternation of 40,000 literals would cost every log line 40,000 comparisons at each position
  and a rebuild per registration, so these are kept in a set instead: each run of URL characters in the
  text is looked up whole, one scan and one set lookup per run however many tokens there are.

`redact(text)` and `redact_value(value)` use the process-wide `Redactor`; the log pipeline (calsync.logs)
and other edges (e.g. `--json` error output) call them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "MARK",
    "MIN_SECRET_LENGTH",
    "Redactor",
    "default_redactor",
    "is_secret_key",
    "redact",
    "redact_value",
    "register_feed_urls",
    "register_secret",
    "register_url_secrets",
]

MARK = "[redacted]"
# Shorter values would redact ordinary words and numbers everywhere; real secrets are much longer.
MIN_SECRET_LENGTH = 6
# A registered secret can overlap the marker, so that replacing one occurrence re-forms another; after this
# many passes the whole string is replaced (never happens with real secrets, but the guarantee holds).
_MAX_PASSES = 4
# A run of characters a URL path segment or query value is made of: a registered token is matched only as
# a whole run, so "abc123" inside "xabc123" is not (a token always sits between "/", "?", "&", "=" or
# spaces in a URL). "=" is not part of a run: it separates a query key from its value.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9._~%+!$*@-]{" + str(MIN_SECRET_LENGTH) + ",}")

# Key names, as they appear in dict fields (normalised: lower case, no `_`/`-`), whose values are secret.
_SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "assertion",
    "cookie",
    "apikey",
    "clientstate",
)
_SECRET_KEYS_EXACT = frozenset({"code", "codeverifier", "pwd", "sig"})

_KEY_WORDS = r"secret|password|passwd|token|authorization|assertion|cookie|api[_-]?key|client[_-]?state"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_PATTERN = re.compile(
    # PEM blocks (keys and certificates), also when the END line was cut off.
    r"(?P<pem>-----BEGIN (?P<pem_kind>[A-Z0-9 ]+)-----)(?:.*?-----END (?P=pem_kind)-----|.*)"
    # JWTs: three base64url segments, the header starting `{"` (eyJ).
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
    # URLs: keep scheme, host and path; hide userinfo and the query/fragment.
    r"|(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@\"'<>]*@)?"
    r"(?P<hostpath>[^\s?#\"'<>]*)(?P<query>[?#][^\s\"'<>]*)?"
    # `Bearer xyz` / `Basic xyz` wherever they appear.
    r"|(?P<authscheme>(?i:\b(?:bearer|basic)\s+))[A-Za-z0-9._~+/=-]+"
    # Header lines: `Authorization: <scheme> value`, `Cookie: a=b; c=d`.
    r"|(?P<authheader>(?i:\b(?:proxy-)?authorization\s*:\s*))(?:[A-Za-z]+\s+)?[^\s,;'\"]+"
    r"|(?P<cookieheader>(?i:\b(?:set-)?cookie\s*:\s*))[^\r\n'\"]*"
    # Form/query-like `key=value` whose key names a secret.
    r"|(?P<formkey>(?i:(?<![\w-])(?:[\w-]*?(?:" + _KEY_WORDS + r")[\w-]*|code|code_verifier|pwd|sig)=))"
    r"(?P<formvalue>" + _QUOTED + r"|[^\s&'\",;)\]}]+)"
    # JSON / Python-repr `"key": value` whose key names a secret (not `code`: Graph error bodies use it).
    r"|(?P<quotedkey>(?i:(?P<q>[\"'])(?:[\w-]*?(?:" + _KEY_WORDS + r")[\w-]*|code_verifier)(?P=q)\s*:\s*))"
    r"(?P<quotedvalue>" + _QUOTED + r"|[^\s,)\]}]+)"
    # `"code": "<an authorization code>"` (msal's debug log of a token request): a long value with a
    # digit or punctuation, unlike Graph's error codes (`"code": "ErrorItemNotFound"`), which stay.
    r"|(?P<codekey>(?P<cq>[\"'])code(?P=cq)\s*:\s*)"
    r"(?P<codevalue>(?P<vq>[\"'])(?=[^\"']*[0-9._~-])[A-Za-z0-9._~-]{20,}(?P=vq))",
    re.DOTALL,
)


def _replace(match: re.Match[str]) -> str:
    group = match.group
    if group("pem"):
        kind_name = group("pem_kind")
        return f"-----BEGIN {kind_name}-----{MARK}-----END {kind_name}-----"
    if group("jwt"):
        return MARK
    if group("scheme"):
        userinfo = f"{MARK}@" if group("userinfo") else ""
        query = group("query")
        suffix = f"{query[0]}{MARK}" if query else ""
        return f"{group('scheme')}{userinfo}{group('hostpath')}{suffix}"
    for key in ("authscheme", "authheader", "cookieheader"):
        if group(key):
            return f"{group(key)}{MARK}"
    value_key = "formvalue" if group("formkey") else "codevalue" if group("codekey") else "quotedvalue"
    prefix = group("formkey") or group("codekey") or group("quotedkey")
    value = group(value_key)
    assert value is not None  # every alternative left has a value group
    quote = value[0] if value[0] in "\"'" else ""
    return f"{prefix}{quote}{MARK}{quote}"


def is_secret_key(key: str) -> bool:
    """Whether a field or dict key names a secret (`client_secret`, `X-Api-Key`, `code`, ...)."""
    normal = key.lower().replace("_", "").replace("-", "")
    return normal in _SECRET_KEYS_EXACT or any(part in normal for part in _SECRET_KEY_PARTS)


class Redactor:
    """Patterns plus a set of registered literal secrets. Thread-safe: registration swaps one compiled
    regex atomically; `redact` reads whichever regex is current."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._secret_re: re.Pattern[str] | None = None
        self._tokens: frozenset[str] = frozenset()
        for value in secrets:
            self.register(value)

    def register(self, value: str) -> None:
        """Redact every occurrence of `value` from now on. Values shorter than MIN_SECRET_LENGTH are
        ignored (they would match ordinary text), and so are parts of the marker itself."""
        self._register_literals([value])

    def _register_literals(self, values: Iterable[str]) -> None:
        """Add `values` to the literal alternation, compiled once for the whole batch."""
        fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH and v.strip() != "" and v not in MARK}
        with self._lock:
            if fresh <= self._secrets:
                return
            secrets = self._secrets | fresh
            # Longest first, so a secret containing another is replaced whole.
            ordered = sorted(secrets, key=len, reverse=True)
            self._secret_re = re.compile("|".join(re.escape(s) for s in ordered))
            self._secrets = secrets

    def register_tokens(self, values: Iterable[str]) -> None:
        """Redact every whole run of URL characters equal to one of `values` from now on (see the module
        doc); cheap for any number of values. A value with other characters is registered as a literal."""
        tokens: set[str] = set()
        literals: list[str] = []
        for value in values:
            if len(value) < MIN_SECRET_LENGTH or value in MARK:
                continue
            if _TOKEN_RUN.fullmatch(value):
                tokens.add(value)
            else:
                literals.append(value)
        self._register_literals(literals)
        with self._lock:
            self._tokens = self._tokens | tokens

    def redact(self, text: str) -> str:
        """`text` with registered secrets and secret-looking parts replaced by "[redacted]"."""
        if not text:
            return text
        # Registered values first, whole, before a pattern could cut one apart and leave half of it.
        out = self._scrub(text)
        tokens = self._tokens
        if tokens:
            out = _TOKEN_RUN.sub(lambda m: MARK if m.group() in tokens else m.group(), out)
        out, count = _PATTERN.subn(_replace, out)
        # A marker next to ordinary text can re-form a registered value that overlaps "[redacted]".
        return self._scrub(out) if count else out

    def redact_value(self, value: object) -> object:
        """A copy of `value` fit for a log line: strings redacted, containers recursively, values under
        secret-naming keys replaced, numbers kept unless they spell a registered secret, and any other
        object turned into its redacted `str()` (so no renderer can print it unredacted)."""
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            text = str(value)
            redacted = self.redact(text)
            return value if redacted == text else redacted
        if isinstance(value, Mapping):
            return {
                self.redact(str(key)): MARK if is_secret_key(str(key)) else self.redact_value(item)
                for key, item in value.items()
            }
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        if isinstance(value, list | set | frozenset):
            return [self.redact_value(item) for item in value]
        return self.redact(str(value))

    def _scrub(self, text: str) -> str:
        pattern = self._secret_re
        if pattern is None:
            return text
        out = text
        for _ in range(_MAX_PASSES):
            out, count = pattern.subn(MARK, out)
            if count == 0:
                return out
        return out if pattern.search(out) is None else MARK


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor that `register_secret`, `redact` and the log pipeline share."""
    return _DEFAULT


def register_secret(value: str) -> None:
    """Never log `value` (the client secret, a key password, ...). Short values (< 6 chars) are ignored."""
    _DEFAULT.register(value)


def register_url_secrets(url: str) -> None:
    """Register the secret parts of a configured URL (e.g. the feed URL template): its userinfo and its
    query values. Path and host stay loggable; query strings are hidden by pattern anyway, but a token
    copied elsewhere (an error message, a header) is caught only as a registered value."""
    parts = urlsplit(url)
    for value in (parts.username, parts.password):
        if value:
            _DEFAULT.register(value)
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        _DEFAULT.register(value)


def register_feed_urls(urls: Iterable[str]) -> None:
    """Register the secret parts of many feed URLs (a mailbox -> URL map) as tokens: userinfo, query
    values and fragments, and every path segment after the first that no other URL of the set shares
    (a per-person token such as TimeEdit's ".../ri5Y0Q6.ics"; "/web/public/" parts shared by the whole
    map stay loggable). Cheap for any number of URLs (`Redactor.register_tokens`)."""
    split = [urlsplit(url) for url in urls]
    seen: dict[str, int] = {}
    for parts in split:
        for segment in set(parts.path.split("/")[2:]):
            seen[segment] = seen.get(segment, 0) + 1
    tokens: list[str] = []
    for parts in split:
        tokens += [v for v in (parts.username, parts.password, parts.fragment) if v]
        tokens += [pair.partition("=")[2] for pair in parts.query.split("&")]  # as written in URLs
        tokens += [v for _, v in parse_qsl(parts.query) if _TOKEN_RUN.fullmatch(v)]  # and decoded
        tokens += [s for s in parts.path.split("/")[2:] if seen.get(s) == 1]
    _DEFAULT.register_tokens(tokens)


def redact(text: str) -> str:
    """`text` with secrets replaced by "[redacted]" (process-wide registered values and patterns)."""
    return _DEFAULT.redact(text)


def redact_value(value: object) -> object:
    """`value` (str, number, dict, list, tuple, other) redacted recursively; see `Redactor.redact_value`."""
    return _DEFAULT.redact_value(value)
