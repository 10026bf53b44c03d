"""Image registration (brain MRI now; the cardiac cine issue reuses it): NIfTI geometry,
QC metrics, ANTs affine/SyN, templates, chunked array stores, VoxelMorph."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "nifti": ["Grid", "read_image", "resample_to_grid"],
        "metrics": [
            "ncc",
            "dice",
            "mean_dice",
            "jacobian_determinant",
            "safe_log",
            "pct_nonpositive",
        ],
        "classical": [
            "ANTS_SPACES",
            "AntsResult",
            "ants_session",
            "register_ants",
            "log_jacobian_ants",
        ],
        "stores": [
            "brain_config",
            "read_manifest",
            "normalise_intensity",
            "build_template",
            "read_template",
            "build_native",
            "assign_chunks",
            "n_chunks",
            "register_chunk",
            "gather_chunks",
            "write_qc_summary",
        ],
    },
)
