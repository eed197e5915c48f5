"""Object storage (issue 14): the feature cache as LanceDB tables under an ``s3://`` URI.

There is no S3 here, so an S3 API server (moto's, a real HTTP server on 127.0.0.1) stands
in for it; LanceDB talks to it through its own S3 client, configured only by the
environment variables a user would set (``AWS_ENDPOINT``, keys, region)."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.encoders import make_encoder
from jointspace.encoders.cache import CachedEncoder, encode_cached

moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def bucket():
    """An empty bucket on a local S3 API server; the AWS_* environment points at it."""
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT": f"http://{host}:{port}", "AWS_ALLOW_HTTP": "true",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT"]).create_bucket(Bucket="jointspace")
        yield "s3://jointspace"
    server.stop()


class Counting:
    """Counts the items an encoder is asked to encode."""

    def __init__(self, encoder):
        self.encoder, self.items = encoder, 0
        self.transform_original = encoder.transform

    def __call__(self, X):
        self.items += len(X)
        return self.transform_original(X)


def test_the_feature_cache_on_object_storage_serves_a_second_run(bucket):
    from sklearn.datasets import load_digits

    texts = [f"digit {d} drawn by writer {i}" for i, d in enumerate(load_digits().target[:300])]
    encoder = make_encoder("tfidf").fit(texts)
    counter = Counting(encoder)
    encoder.transform = counter
    uri = f"{bucket}/features"
    first = encode_cached(encoder, texts + texts[:10], uri)  # repeats encoded once
    assert counter.items == 300
    np.testing.assert_array_equal(first[:300], counter.transform_original(texts))
    np.testing.assert_array_equal(first[300:], first[:10])
    cached = CachedEncoder(encoder, uri)
    second = cached.transform(texts[::-1] + ["a new text"])
    assert counter.items == 301 and (cached.n_hits_, cached.n_computed_) == (300, 1)
    np.testing.assert_array_equal(second[:300], first[:300][::-1])
    import lancedb

    table = lancedb.connect(uri).open_table(cached._store().name)
    assert table.count_rows() == 301  # each item once, though written by two runs
    other = make_encoder("tfidf", max_features=50).fit(texts)  # another config: its own table
    assert CachedEncoder(other, uri)._store().name != cached._store().name


def test_a_bad_cache_uri_is_a_clear_error():
    encoder = make_encoder("tfidf").fit(["red apple", "green pear"])
    with pytest.raises(ValueError, match="feature cache 'nosuchscheme://x' cannot be opened"):
        encode_cached(encoder, ["red apple"], "nosuchscheme://x")
