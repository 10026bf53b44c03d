"""Stage 2, register: one sub-package per modality family (ecg, image, cine),
each writing array stores."""
