"""Cine registration: a rigid alignment to the median-BMI exemplar (space), then DeepCycle
reparameterises each cine's time by a learned cycle phase and resamples its frames onto a common
phase grid (time); VoxelMorph then registers every frame to the exemplar's frame of the same
phase (shape)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "deepcycle": [
            "read_cine",
            "prepare",
            "DeepCycle",
            "TrainLog",
            "train",
            "phases",
            "frame_index_phase",
            "phase_qc",
            "resample_to_grid",
        ],
        "stores": [
            "cardiac_config",
            "load_cines",
            "warp_frames",
            "load_cines_rigid",
            "build_cardiac_native",
            "read_true_phase",
            "build_cardiac_deepcycle",
        ],
        "voxelmorph": [
            "voxelmorph_config",
            "cine_exemplar",
            "cine_frames",
            "train_cardiac_voxelmorph",
            "apply_cardiac_voxelmorph",
        ],
    },
)
