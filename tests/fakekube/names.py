"""Name formats from k8s.io/apimachinery/pkg/util/validation/validation.go, worded as in Kubernetes 1.35.

Each check returns a list of problems (empty when the value is valid), worded exactly like the real
validators, including RegexError's examples and regex: clients and people match on these messages. (Later
apimachinery moves label keys and values to pkg/api/validate/content, which says "a valid label key" and
"bytes" where 1.35 says "a qualified name" and "characters".)
"""

from __future__ import annotations

import re

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"

_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")
_LABEL_KEY = re.compile(f"^{_LABEL_KEY_FMT}$")
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FMT}$")

_LABEL_KEY_MESSAGE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                      "alphanumeric character")


def regex_error(message: str, regex: str, *examples: str) -> str:
    """RegexError: `msg (e.g. 'a',  or 'b', regex used for validation is 're')` (the double space is real)."""
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    listed = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {listed}regex used for validation is '{regex}')"


def max_len_error(length: int) -> str:
    """MaxLenError as of Kubernetes 1.35 (later apimachinery says "bytes" instead of "characters")."""
    return f"must be no more than {length} characters"


def dns1123_label(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append(max_len_error(63))
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            problems.append("must not contain dots")  # a valid subdomain: the dots are the only problem
        else:
            problems.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                                        "characters or '-', and must start and end with an alphanumeric character",
                                        _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return problems


def dns1123_subdomain(value: str) -> list[str]:
    problems = []
    if len(value) > 253:
        problems.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        problems.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                    "characters, '-' or '.', and must start and end with an alphanumeric character",
                                    _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return problems


def dns1035_label(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append(max_len_error(63))
    if not _DNS1035_LABEL.match(value):
        problems.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                                    "start with an alphabetic character, and end with an alphanumeric character",
                                    _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return problems


def path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: `[prefix/]name`, for label and annotation keys and finalizers (1.35 wording; the
    content package that replaces it later says "a valid label key" and "bytes").

    As in the Go code, an empty name part reports both "must be non-empty" and the regex error.
    """
    parts = value.split("/")
    problems: list[str] = []
    if len(parts) > 2:
        return ["a qualified name " + regex_error(_LABEL_KEY_MESSAGE, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {p}" for p in dns1123_subdomain(prefix))
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part " + max_len_error(63))
    if not _LABEL_KEY.match(name):
        problems.append("name part " + regex_error(_LABEL_KEY_MESSAGE, _LABEL_KEY_FMT, "MyName", "my.name",
                                                   "123-abc"))
    return problems


def label_value(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append(max_len_error(63))
    if not _LABEL_VALUE.match(value):
        problems.append(regex_error("a valid label must be an empty string or consist of alphanumeric characters, "
                                    "'-', '_' or '.', and must start and end with an alphanumeric character",
                                    _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return problems
