"""Object storage (issue 14): the feature cache as LanceDB tables under an ``s3://`` URI, and
the Ray batch embedding writing its table there.

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


@pytest.mark.slow  # a Ray cluster (~15 s); the cache test above covers S3 in the default run
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_batch_embedding_on_ray_writes_to_object_storage_and_resumes(bucket):
    """The Ray batch embedding's output table under an s3:// URI: every id once, the vectors
    of the in-process encoder; a second run finds them all there."""
    ray = pytest.importorskip("ray")
    import lancedb
    from sklearn.datasets import load_digits

    from jointspace.scale.ray_embed import EmbedModel, embed_to_lance

    texts = [f"digit {d} drawn by writer {i}" for i, d in enumerate(load_digits().target[:200])]
    ids = [f"t{i}" for i in range(len(texts))]
    encoder = make_encoder("tfidf").fit(texts)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        model = EmbedModel.from_encoder(encoder)
        uri = f"{bucket}/embeddings"
        report = embed_to_lance({"id": ids, "text": texts}, model, uri, "texts",
                                item_column="text", workers=1, batch_rows=64, progress=False)
        assert (report.embedded, report.rows, report.commits) == (200, 200, 4)
        again = embed_to_lance({"id": ids, "text": texts}, model, uri, "texts",
                               item_column="text", workers=1, progress=False)
        assert (again.existing, again.embedded) == (200, 0)
    finally:
        ray.shutdown()
    table = lancedb.connect(uri).open_table("texts").to_arrow()
    got = dict(zip(table.column("id").to_pylist(),
                   np.stack(table.column("vector").to_numpy(zero_copy_only=False))))
    assert sorted(got) == sorted(ids) and table.num_rows == 200
    want = encoder.transform(texts)
    np.testing.assert_allclose(np.stack([got[i] for i in ids]), want, atol=1e-6)
