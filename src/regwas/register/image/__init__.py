"""Image registration (brain MRI, DXA; the cardiac cine issue reuses it): NIfTI geometry,
QC metrics, ANTs affine/SyN and rigid 2D, templates, chunked array stores, VoxelMorph."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "classical": [
            "ANTS_SPACES",
            "SYN_SPACES",
            "ants_session",
            "AntsResult",
            "transform_type",
            "register_ants",
            "log_jacobian_ants",
        ],
        "metrics": [
            "ncc",
            "dice",
            "mean_dice",
            "jacobian_determinant",
            "safe_log",
            "pct_nonpositive",
        ],
        "nifti": ["Grid", "load_nifti", "read_image", "resample_to_grid"],
        "rigid": ["RIGID_TYPES", "RigidResult", "register_rigid"],
        "stores": [
            "QC_COLUMNS",
            "brain_config",
            "read_manifest",
            "normalise_intensity",
            "Subject",
            "common_grid",
            "build_template",
            "read_template",
            "build_native",
            "assign_chunks",
            "n_chunks",
            "register_chunk",
            "gather_chunks",
            "write_qc_summary",
        ],
        "voxelmorph": [
            "warp",
            "scaling_and_squaring",
            "UNet",
            "VoxelMorph",
            "pick_device",
            "train",
            "load_model",
            "register_rows",
            "warp_labels",
            "n_params",
            "train_on_store",
            "apply_to_store",
        ],
    },
)
