# Registration: per modality and space, an array store results/{modality}/{space}/data.npy
# (N x shape, float32, memory-mappable) + samples.tsv (the row order) + qc.tsv.


rule ecg_native:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data=space_file("data.npy", "ecg", "native"),
        samples=space_file("samples.tsv", "ecg", "native"),
    log:
        f"{LOGS}/ecg_native.log",
    benchmark:
        f"{BENCH}/ecg_native.tsv"
    conda:
        "../../envs/ecg.yaml"
    script:
        "../../scripts/ecg_native.py"


rule ecg_median_beat:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data=space_file("data.npy", "ecg", "median_beat"),
        samples=space_file("samples.tsv", "ecg", "median_beat"),
        qc=space_file("qc.tsv", "ecg", "median_beat"),
    log:
        f"{LOGS}/ecg_median_beat.log",
    benchmark:
        f"{BENCH}/ecg_median_beat.tsv"
    conda:
        "../../envs/ecg.yaml"
    params:
        cfg=config["ecg"]["median_beat"],
    script:
        "../../scripts/ecg_median_beat.py"


# Brain MRI: a template on the common grid, the native store, and ANTs registration in chunks
# of brain.chunk_size subjects (one job each; a checkpoint counts them from the manifest),
# gathered into one store per space. ants_affine, ants_syn and ants_syn_jac come from one
# registration per subject.


rule brain_template:
    input:
        manifest=f"{COHORT}/brain.manifest.tsv",
    output:
        directory("results/brain/template"),
    log:
        f"{LOGS}/brain_template.log",
    benchmark:
        f"{BENCH}/brain_template.tsv"
    conda:
        "../../envs/register.yaml"
    params:
        cfg=BRAIN_ANTS_CONFIG,
        seed=config["seed"],
    script:
        "../../scripts/brain_template.py"


rule brain_native:
    input:
        manifest=f"{COHORT}/brain.manifest.tsv",
        template="results/brain/template",
    output:
        data="results/brain/native/data.npy",
        samples="results/brain/native/samples.tsv",
        qc="results/brain/native/qc.tsv",
    log:
        f"{LOGS}/brain_native.log",
    benchmark:
        f"{BENCH}/brain_native.tsv"
    conda:
        "../../envs/register.yaml"
    params:
        cfg=BRAIN_ANTS_CONFIG,
    script:
        "../../scripts/brain_native.py"


checkpoint brain_chunks:
    input:
        manifest=f"{COHORT}/brain.manifest.tsv",
    output:
        "results/brain/chunks.tsv",
    log:
        f"{LOGS}/brain_chunks.log",
    benchmark:
        f"{BENCH}/brain_chunks.tsv"
    conda:
        "../../envs/register.yaml"
    params:
        chunk_size=config["brain"]["chunk_size"],
    script:
        "../../scripts/brain_chunks.py"


rule brain_ants_chunk:
    input:
        manifest=f"{COHORT}/brain.manifest.tsv",
        chunks="results/brain/chunks.tsv",
        template="results/brain/template",
    output:
        directory("results/brain/ants_chunks/{chunk}"),
    log:
        f"{LOGS}/brain_ants/chunk{{chunk}}.log",
    benchmark:
        f"{BENCH}/brain_ants/chunk{{chunk}}.tsv"
    conda:
        "../../envs/register.yaml"
    params:
        cfg=BRAIN_ANTS_CONFIG,
        seed=config["seed"],
        spaces=BRAIN_ANTS_SPACES,
    script:
        "../../scripts/brain_ants_chunk.py"


rule brain_ants_store:
    input:
        chunks=brain_ants_chunk_dirs,
    output:
        data="results/brain/{space}/data.npy",
        samples="results/brain/{space}/samples.tsv",
        qc="results/brain/{space}/qc.tsv",
        summary="results/brain/{space}/qc_summary.tsv",
    log:
        f"{LOGS}/brain_ants/{{space}}_store.log",
    benchmark:
        f"{BENCH}/brain_ants/{{space}}_store.tsv"
    wildcard_constraints:
        space="ants_[a-z_]+",
    conda:
        "../../envs/register.yaml"
    script:
        "../../scripts/brain_gather.py"


# VoxelMorph: trained on the affinely aligned brains (the ants_affine store) to the template,
# resuming from its checkpoint (registration_model.ckpt) after an interruption; then every
# subject is
# registered, with the Dice of the affine stage's labels (ants_affine_labels) warped alongside.
# A GPU is requested when brain.voxelmorph.gpu is true (CUDA and mixed precision when present).


rule brain_voxelmorph_train:
    input:
        data="results/brain/ants_affine/data.npy",
        template="results/brain/template",
    output:
        model="results/brain/voxelmorph/registration_model.pt",
        history="results/brain/voxelmorph/registration_training.tsv",
    log:
        f"{LOGS}/brain_voxelmorph_train.log",
    benchmark:
        f"{BENCH}/brain_voxelmorph_train.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    resources:
        gpu=VOXELMORPH_GPU,
    params:
        cfg=config["brain"]["voxelmorph"],
        seed=config["seed"],
    script:
        "../../scripts/brain_voxelmorph_train.py"


rule brain_voxelmorph_apply:
    input:
        data="results/brain/ants_affine/data.npy",
        labels=voxelmorph_labels,
        template="results/brain/template",
        model="results/brain/voxelmorph/registration_model.pt",
    output:
        warped="results/brain/voxelmorph/data.npy",
        warped_samples="results/brain/voxelmorph/samples.tsv",
        warped_qc="results/brain/voxelmorph/qc.tsv",
        warped_summary="results/brain/voxelmorph/qc_summary.tsv",
        jac="results/brain/voxelmorph_jac/data.npy",
        jac_samples="results/brain/voxelmorph_jac/samples.tsv",
        jac_qc="results/brain/voxelmorph_jac/qc.tsv",
        jac_summary="results/brain/voxelmorph_jac/qc_summary.tsv",
    log:
        f"{LOGS}/brain_voxelmorph_apply.log",
    benchmark:
        f"{BENCH}/brain_voxelmorph_apply.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    resources:
        gpu=VOXELMORPH_GPU,
    params:
        cfg=config["brain"]["voxelmorph"],
        on_failure=config["brain"]["on_failure"],
    script:
        "../../scripts/brain_voxelmorph_apply.py"


# DXA: the images as scanned (native) and ANTs rigid to the median-BMI exemplar (rigid).


rule dxa_native:
    input:
        manifest=f"{COHORT}/dxa.manifest.tsv",
        samples=f"{COHORT}/samples.tsv",
    output:
        data=space_file("data.npy", "dxa", "native"),
        samples=space_file("samples.tsv", "dxa", "native"),
        qc=space_file("qc.tsv", "dxa", "native"),
        summary=space_file("qc_summary.tsv", "dxa", "native"),
    log:
        f"{LOGS}/dxa_native.log",
    benchmark:
        f"{BENCH}/dxa_native.tsv"
    conda:
        "../../envs/register.yaml"
    script:
        "../../scripts/dxa_native.py"


rule dxa_rigid:
    input:
        manifest=f"{COHORT}/dxa.manifest.tsv",
        samples=f"{COHORT}/samples.tsv",
    output:
        data=space_file("data.npy", "dxa", "rigid"),
        samples=space_file("samples.tsv", "dxa", "rigid"),
        qc=space_file("qc.tsv", "dxa", "rigid"),
        summary=space_file("qc_summary.tsv", "dxa", "rigid"),
    log:
        f"{LOGS}/dxa_rigid.log",
    benchmark:
        f"{BENCH}/dxa_rigid.tsv"
    conda:
        "../../envs/register.yaml"
    params:
        cfg=config["dxa"],
        seed=config["seed"],
    script:
        "../../scripts/dxa_rigid.py"


# Cardiac cine: frames in acquisition order (native) and resampled onto a common cycle-phase
# grid by DeepCycle, trained on the cohort (deepcycle); phase QC against the simulator's truth.
# The env of the learned image registration (torch + the image-registration package's NIfTI
# geometry, which can hand images to ANTs).


rule cardiac_native:
    input:
        manifest=f"{COHORT}/cardiac.manifest.tsv",
    output:
        data=space_file("data.npy", "cardiac", "native"),
        samples=space_file("samples.tsv", "cardiac", "native"),
        qc=space_file("qc.tsv", "cardiac", "native"),
    log:
        f"{LOGS}/cardiac_native.log",
    benchmark:
        f"{BENCH}/cardiac_native.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    params:
        cfg=CARDIAC_STORE_CONFIG,
    script:
        "../../scripts/cardiac_native.py"


rule cardiac_deepcycle:
    input:
        unpack(cardiac_phase_truth),
        manifest=f"{COHORT}/cardiac.manifest.tsv",
        samples=f"{COHORT}/samples.tsv",
    output:
        data=space_file("data.npy", "cardiac", "deepcycle"),
        samples=space_file("samples.tsv", "cardiac", "deepcycle"),
        qc=space_file("qc.tsv", "cardiac", "deepcycle"),
        summary=space_file("qc_summary.tsv", "cardiac", "deepcycle"),
        model=space_file("registration_model.pt", "cardiac", "deepcycle"),
    log:
        f"{LOGS}/cardiac_deepcycle.log",
    benchmark:
        f"{BENCH}/cardiac_deepcycle.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    params:
        cfg=CARDIAC_STORE_CONFIG,
        seed=config["seed"],
    script:
        "../../scripts/cardiac_deepcycle.py"


# Cardiac VoxelMorph: one 2D model trained on (frame, exemplar frame of the same phase) pairs of
# the deepcycle cines (the exemplar: the median-BMI person, from the cohort's samples table and
# the deepcycle store's qc.tsv), resuming from its checkpoint; then every frame of every cine is
# registered: the voxelmorph (warped cines) and voxelmorph_jac (log det J per frame) stores.


rule cardiac_voxelmorph_train:
    input:
        data=space_file("data.npy", "cardiac", "deepcycle"),
        qc=space_file("qc.tsv", "cardiac", "deepcycle"),
        samples=f"{COHORT}/samples.tsv",
    output:
        model=space_file("registration_model.pt", "cardiac", "voxelmorph"),
        history=space_file("registration_training.tsv", "cardiac", "voxelmorph"),
    log:
        f"{LOGS}/cardiac_voxelmorph_train.log",
    benchmark:
        f"{BENCH}/cardiac_voxelmorph_train.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    resources:
        gpu=CARDIAC_VOXELMORPH_GPU,
    params:
        cfg=config["cardiac"]["voxelmorph"],
        seed=config["seed"],
    script:
        "../../scripts/cardiac_voxelmorph_train.py"


rule cardiac_voxelmorph_apply:
    input:
        data=space_file("data.npy", "cardiac", "deepcycle"),
        qc=space_file("qc.tsv", "cardiac", "deepcycle"),
        samples=f"{COHORT}/samples.tsv",
        model=space_file("registration_model.pt", "cardiac", "voxelmorph"),
    output:
        warped=space_file("data.npy", "cardiac", "voxelmorph"),
        warped_samples=space_file("samples.tsv", "cardiac", "voxelmorph"),
        warped_qc=space_file("qc.tsv", "cardiac", "voxelmorph"),
        warped_summary=space_file("qc_summary.tsv", "cardiac", "voxelmorph"),
        jac=space_file("data.npy", "cardiac", "voxelmorph_jac"),
        jac_samples=space_file("samples.tsv", "cardiac", "voxelmorph_jac"),
        jac_qc=space_file("qc.tsv", "cardiac", "voxelmorph_jac"),
        jac_summary=space_file("qc_summary.tsv", "cardiac", "voxelmorph_jac"),
    log:
        f"{LOGS}/cardiac_voxelmorph_apply.log",
    benchmark:
        f"{BENCH}/cardiac_voxelmorph_apply.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    resources:
        gpu=CARDIAC_VOXELMORPH_GPU,
    params:
        cfg=config["cardiac"]["voxelmorph"],
    script:
        "../../scripts/cardiac_voxelmorph_apply.py"


# One subject's non-rigid warp by ANTs SyN and by VoxelMorph, for the template / warp-grid figure


rule brain_warp_example:
    input:
        unpack(warp_example_inputs),
        manifest=f"{COHORT}/brain.manifest.tsv",
    output:
        "results/brain/warp_example.npz",
    log:
        f"{LOGS}/brain_warp_example.log",
    benchmark:
        f"{BENCH}/brain_warp_example.tsv"
    conda:
        "../../envs/voxelmorph.yaml"
    params:
        cfg=config["brain"],
        seed=config["seed"],
        methods=WARP_METHODS,
    script:
        "../../scripts/brain_warp_example.py"
