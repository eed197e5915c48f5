"""Fits from data bigger than memory: chunks of Parquet and .npy shards through
``partial_fit``, and statistics merged across blocks, against the in-memory fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jointspace.data import MultiView, load_dataset
from jointspace.data.streams import lance_chunks, npy_chunks, parquet_chunks
from jointspace.models import CCA, MCCA, PLS
from jointspace.models.linear.solvers import CovarianceAccumulator


@pytest.fixture(scope="module")
def mfeat() -> MultiView:
    """uci-mfeat (2,000 real digits): Fourier, Karhunen–Loève and Zernike views."""
    data = load_dataset("uci-mfeat")
    return MultiView({v: data[v] for v in ("fou", "kar", "zer")})


def _write_parquet_shards(data: MultiView, folder, n_shards: int = 5) -> list:
    """The views as columns ``<view>_<j>`` of ``n_shards`` Parquet files of uneven size."""
    bounds = np.linspace(0, data.n_samples, n_shards + 1).astype(int)
    bounds[1:-1] += np.arange(1, n_shards) * 7  # uneven shards
    paths = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        frame = pd.DataFrame({f"{v}_{j}": data[v][a:b, j]
                              for v in data.view_names for j in range(data[v].shape[1])})
        frame.to_parquet(folder / f"part-{k}.parquet")
        paths.append(folder / f"part-{k}.parquet")
    return paths


@pytest.mark.parametrize("model", [CCA(5, reg=1e-3), PLS(5)], ids=["CCA", "PLS"])
def test_parquet_shards_through_partial_fit_equal_the_in_memory_fit(mfeat, tmp_path, model):
    two = mfeat.select(["fou", "kar"])
    paths = _write_parquet_shards(two, tmp_path)
    streamed = type(model)(**model.get_params())
    chunks = list(parquet_chunks(paths, {"fou": ["fou_*"], "kar": ["kar_*"]}, chunk_rows=137))
    assert sum(c.n_samples for c in chunks) == two.n_samples
    assert max(c.n_samples for c in chunks) == 137 and len(chunks) > 5
    for chunk in chunks:
        streamed.partial_fit(chunk)
    whole = type(model)(**model.get_params()).fit(two)
    for got, want in zip(streamed.transform(two), whole.transform(two)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_npy_shards_of_three_views_fit_mcca_as_in_memory(mfeat, tmp_path):
    shards: dict[str, list] = {v: [] for v in mfeat.view_names}
    for k, rows in enumerate(np.array_split(np.arange(mfeat.n_samples), 3)):
        for v in mfeat.view_names:
            np.save(tmp_path / f"{v}-{k}.npy", mfeat[v][rows])
            shards[v].append(tmp_path / f"{v}-{k}.npy")
    streamed = MCCA(4, reg=1e-3)
    for chunk in npy_chunks(shards, chunk_rows=250):
        streamed.partial_fit(chunk)
    whole = MCCA(4, reg=1e-3).fit(mfeat)
    for got, want in zip(streamed.transform(mfeat), whole.transform(mfeat)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_statistics_merged_in_any_order_equal_one_pass(mfeat):
    """Per-block accumulators (as workers would compute them) merged on one side equal
    the accumulator fed every row, whatever the order of the merge."""
    arrays = [mfeat[v] for v in mfeat.view_names]
    dims = [a.shape[1] for a in arrays]
    one = CovarianceAccumulator(dims)
    one.update(arrays)
    blocks = []
    for rows in np.array_split(np.random.default_rng(0).permutation(mfeat.n_samples), 20):
        acc = CovarianceAccumulator(dims)
        acc.update([a[rows] for a in arrays])
        blocks.append(acc)
    for order in (range(20), reversed(range(20))):
        merged = CovarianceAccumulator(dims)
        for i in order:
            merged.merge(blocks[i])
        assert merged.n == one.n
        np.testing.assert_allclose(merged.mean, one.mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(merged.scatter, one.scatter, rtol=1e-9,
                                   atol=1e-9 * np.abs(one.scatter).max())
    with pytest.raises(ValueError, match="cannot merge statistics of views"):
        merged.merge(CovarianceAccumulator([1, 2]))


def test_bad_shards_are_named(mfeat, tmp_path):
    two = mfeat.select(["fou", "kar"])
    paths = _write_parquet_shards(two, tmp_path, n_shards=2)
    with pytest.raises(ValueError, match=r"view 'gene': no column matches 'gene_\*'.*part-0"):
        next(parquet_chunks(paths, {"gene": ["gene_*"]}))
    text = pd.DataFrame({"fou_0": ["a", "b"], "kar_0": [1.0, 2.0]})
    text.to_parquet(tmp_path / "text.parquet")
    with pytest.raises(ValueError, match=r"view 'fou': column 'fou_0' of .*text.parquet.* is "
                                         "not numeric"):
        list(parquet_chunks([tmp_path / "text.parquet"], {"fou": ["fou_0"], "kar": ["kar_0"]}))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(ValueError, match="broken.parquet.*unreadable"):
        next(parquet_chunks([tmp_path / "broken.parquet"], {"fou": ["fou_0"]}))
    with pytest.raises(ValueError, match="shards per view"):
        next(npy_chunks({"a": ["x.npy"], "b": ["y.npy", "z.npy"]}))
    with pytest.raises(ValueError, match="chunk_rows is 0"):
        next(parquet_chunks(paths, {"fou": ["fou_*"]}, chunk_rows=0))


def test_a_lancedb_table_streams_into_the_in_memory_model(mfeat, tmp_path):
    """A LanceDB table whose views are vector columns (Fourier) or scalar columns by pattern
    (Karhunen–Loève), read 300 rows at a time: CCA through partial_fit equals the in-memory
    fit; a view whose columns the table lacks is named."""
    import lancedb
    import pyarrow as pa

    two = mfeat.select(["fou", "kar"])
    fou = two["fou"].astype(np.float64)
    columns = {"fou": pa.FixedSizeListArray.from_arrays(pa.array(fou.ravel()), fou.shape[1])}
    columns.update({f"kar_{j:02d}": two["kar"][:, j] for j in range(two["kar"].shape[1])})
    lancedb.connect(str(tmp_path / "db")).create_table("digits", pa.table(columns))
    streamed = CCA(5, reg=1e-3)
    chunks = list(lance_chunks(str(tmp_path / "db"), "digits",
                               {"fou": ["fou"], "kar": ["kar_*"]}, chunk_rows=300))
    assert [c.n_samples for c in chunks][:2] == [300, 300]
    assert sum(c.n_samples for c in chunks) == two.n_samples
    for chunk in chunks:
        streamed.partial_fit(chunk)
    whole = CCA(5, reg=1e-3).fit(two)
    for got, want in zip(streamed.transform(two), whole.transform(two)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match=r"view 'gene': no column 'gene'.*digits"):
        next(lance_chunks(str(tmp_path / "db"), "digits", {"gene": ["gene"]}))
    with pytest.raises(ValueError, match="cannot be opened"):
        next(lance_chunks(str(tmp_path / "db"), "nowhere", {"fou": ["fou"]}))
