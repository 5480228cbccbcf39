import json
import uuid
from datetime import datetime

import numpy as np
import pytest
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer

from docstore.opensearch.serializer import OrjsonSerializer


def test_writes_what_the_clients_serializer_writes() -> None:
    body = {
        "query": {"knn": {"embedding": {"vector": [0.1, -2.5e-07, 3.0], "k": 50}}},
        "text": "Zürich — 東京",
        "when": datetime(2026, 1, 2, 3, 4, 5),
        "id": uuid.UUID(int=7),
        "array": np.arange(3, dtype=np.float32),
        "scalar": np.int64(4),
    }
    mine, theirs = OrjsonSerializer(), JSONSerializer()
    assert json.loads(mine.dumps(body)) == json.loads(theirs.dumps(body))
    assert mine.dumps("a body already") == "a body already"


def test_falls_back_where_orjson_refuses() -> None:
    # a lone surrogate (text from a broken PDF) is written as the json module writes it
    assert OrjsonSerializer().dumps({"text": "a\ud800b"}) == JSONSerializer().dumps({"text": "a\ud800b"})
    assert json.loads(OrjsonSerializer().dumps({"n": 2**70})) == {"n": 2**70}


def test_reads_responses_and_reports_bad_ones() -> None:
    assert OrjsonSerializer().loads('{"hits": {"hits": [{"_score": 1.5}]}}') == {"hits": {"hits": [{"_score": 1.5}]}}
    assert OrjsonSerializer().loads('{"big": 18446744073709551616}') == {"big": 2**64}
    assert OrjsonSerializer().loads('{"x": NaN}')["x"] != 0  # read as the json module reads it
    with pytest.raises(SerializationError):
        OrjsonSerializer().loads("{not json")
