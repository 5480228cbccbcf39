"""The OpenSearch client's JSON, written and read by orjson.

The client's own serializer uses the json module, which writes a search's query vector (hundreds
of floats) digit by digit in Python: about 0.45 ms of a hybrid search's 7 at 100k pages, where
orjson takes a few microseconds; it also reads the responses (a hybrid's two rankings, the
window's pages) several times faster. Anything orjson refuses (a string holding a lone surrogate,
an integer beyond 64 bits) is written, and anything it cannot read (NaN) read, by the client's
serializer as before."""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy.serializer import JSONSerializer

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class OrjsonSerializer(JSONSerializer):
    def dumps(self, data: Any) -> Any:
        if isinstance(data, str):  # already a body
            return data
        try:
            return orjson.dumps(data, default=self.default, option=_OPTIONS).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError):
            return super().dumps(data)

    def loads(self, s: str) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:  # NaN, an integer beyond 64 bits: the json module reads them
            return super().loads(s)
