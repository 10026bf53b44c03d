"""Stage 2, register: one sub-package per modality family (ecg now; image and cine next),
each writing array stores."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {},
)
