"""Stage 2, register: one sub-package per modality family (ecg now; image and cine next),
each writing array stores."""
