"""Registration overlays: aligned images give grey, misaligned ones colour; files written."""

import numpy as np
import pytest

from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore, ArrayStoreWriter
from regwas.plots.registration import overlay_subjects, overlays, rgb_overlay


def _disc(shift=0, size=32):
    yy, xx = np.mgrid[:size, :size]
    return (((yy - 16) ** 2 + (xx - 16 - shift) ** 2) < 60).astype(np.float32)


def test_identical_images_are_grey_and_shifted_ones_are_not():
    grey = rgb_overlay([_disc(), _disc() * 3.0, _disc() + 1.0])  # per-image scaling
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    colour = rgb_overlay([_disc(-4), _disc(0), _disc(4)])
    assert np.abs(colour[..., 0] - colour[..., 2]).max() == 1.0
    volume = np.stack([_disc()] * 5, axis=-1)
    assert rgb_overlay([volume, volume, volume]).shape == (32, 32, 3)
    with pytest.raises(ValueError):
        rgb_overlay([_disc()] * 2)


def _store(path, shifts, ids):
    with ArrayStoreWriter(path, (32, 32), len(ids)) as w:
        for sid, s in zip(ids, shifts, strict=True):
            w.append(sid, _disc(s))
    return path


def test_overlays_write_png_and_pdf_for_people_in_every_space(tmp_path):
    native = _store(tmp_path / "native", [-4, 0, 4, 2], ["a", "b", "c", "d"])
    reg = _store(tmp_path / "reg", [0, 0, 0], ["b", "c", "d"])  # "a" failed registration
    stores = {"native": ArrayStore(native), "reg": ArrayStore(reg)}
    assert overlay_subjects(stores) == ["b", "c", "d"]
    paths = overlays({"native": native, "reg": reg}, tmp_path / "out" / "overlays")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    two = _store(tmp_path / "two", [0, 0], ["b", "c"])
    with pytest.raises(InputError, match="only 2 people"):
        overlay_subjects({"native": ArrayStore(native), "two": ArrayStore(two)})


def test_warp_grid_draws_each_grid_point_at_x_plus_u(tmp_path):
    """The warp grid: with a constant shift u = (2, -1) voxels every drawn grid line is the
    regular one moved by u; a radial bump (det J > 1 inside, < 1 around it) shows its min; the
    .npz written by the workflow's warp example draws to PNG + PDF; a bad file is an error."""
    from regwas.plots.registration import warp_grid, warp_grid_figure

    tpl = _disc(size=32)
    shift = np.zeros((2, 32, 32))
    shift[0], shift[1] = 2.0, -1.0
    fig = warp_grid_figure(tpl, {"ants_syn": shift}, "S1", spacing=8)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 8  # 4 lines along each axis
    i, j = np.indices((32, 32))
    first = lines[0].get_xydata()
    np.testing.assert_allclose(first[:, 0], i[0, :] + 2.0)
    np.testing.assert_allclose(first[:, 1], j[0, :] - 1.0)
    assert "det J 1.00-1.00" in fig.axes[0].get_title()
    yy, xx = np.mgrid[:32, :32].astype(float)
    bump = 0.1 * np.stack([yy - 16, xx - 16]) * np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / 50)
    title = warp_grid_figure(tpl, {"voxelmorph": bump}).axes[0].get_title()
    assert "VoxelMorph" in title and float(title.split("det J ")[1].split("-")[0]) < 1.0
    np.savez(
        tmp_path / "w.npz",
        template=tpl,
        sample_id=np.array("S1"),
        methods=np.array(["ants_syn", "voxelmorph"]),
        disp_ants_syn=shift,
        disp_voxelmorph=bump,
    )
    written = warp_grid(tmp_path / "w.npz", tmp_path / "grid")
    assert sorted(p.suffix for p in written) == [".pdf", ".png"]
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(InputError, match="bad.npz"):
        warp_grid(tmp_path / "bad.npz", tmp_path / "bad")
