"""Fits on a local Ray cluster (``ray.init(num_cpus=2)`` on 127.0.0.1): the blocks'
statistics merged on the driver give the in-memory model."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.data import MultiView, load_dataset
from jointspace.models import CCA, MCCA

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def mfeat() -> MultiView:
    data = load_dataset("uci-mfeat")
    return MultiView({v: data[v] for v in ("fou", "kar", "zer")})


def test_cca_from_a_ray_dataset_of_20_blocks_equals_the_in_memory_fit(cluster, mfeat):
    """Real digits as a Ray dataset of 20 blocks whose columns are the views (tensor
    columns), reduced 37 rows at a time: CCA and MCCA fitted there match the in-memory
    fits to 1e-8."""
    from jointspace.scale.ray_fit import fit_on_ray

    items = [{v: mfeat[v][i] for v in mfeat.view_names} for i in range(mfeat.n_samples)]
    ds = ray.data.from_items(items).repartition(20).materialize()
    assert ds.num_blocks() == 20
    two = {"fou": ["fou"], "kar": ["kar"]}
    on_ray = fit_on_ray(CCA(5, reg=1e-3), ds, two, batch_rows=37)
    local = CCA(5, reg=1e-3).fit(mfeat.select(["fou", "kar"]))
    for got, want in zip(on_ray.transform(mfeat.select(["fou", "kar"])),
                         local.transform(mfeat.select(["fou", "kar"]))):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    three = {v: [v] for v in mfeat.view_names}
    on_ray = fit_on_ray(MCCA(4, reg=1e-3), ds, three, batch_rows=37)
    local = MCCA(4, reg=1e-3).fit(mfeat)
    for got, want in zip(on_ray.transform(mfeat), local.transform(mfeat)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_scalar_columns_grouped_by_pattern_and_rows_lacking_a_view(cluster, mfeat):
    """A dataset of scalar columns (as Parquet gives) grouped into views by pattern; rows
    with a NaN in a view are left out, as partial_fit leaves them out."""
    import pandas as pd

    from jointspace.scale.ray_fit import fit_on_ray

    two = mfeat.select(["fou", "kar"])
    frame = pd.DataFrame({f"{v}_{j:02d}": two[v][:, j] for v in two.view_names
                          for j in range(two[v].shape[1])})
    frame.iloc[::7, 0] = np.nan  # every 7th row lacks its Fourier view
    ds = ray.data.from_pandas(frame).repartition(6)
    on_ray = fit_on_ray(CCA(3, reg=1e-3), ds, {"fou": ["fou_*"], "kar": ["kar_*"]})
    kept = np.ones(two.n_samples, bool)
    kept[::7] = False
    local = CCA(3, reg=1e-3).fit(two.subset(kept))
    np.testing.assert_allclose(on_ray.transform(two)[1], local.transform(two)[1],
                               rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="view 'gene': no column matches"):
        fit_on_ray(CCA(3), ds, {"gene": ["gene_*"], "kar": ["kar_*"]})
