"""Analysis names (results/{modality}/{analysis}/): the same parse as the workflow's."""

from regwas.io.analysis import analysis_space, native_analysis, split_analysis


def test_primary_and_baseline_names():
    assert split_analysis("native") == ("native", "")
    assert split_analysis("median_beat") == ("median_beat", "")
    assert split_analysis("ants_syn_jac.pca") == ("ants_syn_jac", "pca")
    assert analysis_space("voxelmorph_jac.autoencoder") == "voxelmorph_jac"
    assert analysis_space("dropfuse") == "dropfuse"


def test_native_of_the_same_method():
    assert native_analysis("median_beat") == "native"
    assert native_analysis("native") == "native"
    assert native_analysis("ants_affine.pca") == "native.pca"
    assert native_analysis("native.autoencoder") == "native.autoencoder"
