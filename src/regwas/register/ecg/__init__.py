"""ECG registration: the native 10 s signals and the median beat (R-peak template matching),
written as array stores."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "beats": ["QC_COLUMNS", "BeatDetectionError", "median_beat", "median_beat_record"],
        "records": ["STANDARD_LEADS", "record_paths", "read_record"],
        "stores": ["build_native", "build_median_beat"],
    },
)
