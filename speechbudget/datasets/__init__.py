"""Data adapters: the user's data as it is, behind one `Dataset` protocol (see base.py).

    open_dataset("data/librispeech_sample")               # folder with manifest.jsonl
    open_dataset("corpus/metadata.csv", Columns(audio="file", text="sentence"))
    open_dataset("corpus/")                                # folder with metadata.csv / .tsv
    open_dataset("LJSpeech-1.1/")                          # metadata.csv (ID|TEXT|NORM) + wavs/
    open_dataset("m.jsonl", audio_root="/corpora/x")       # audio paths relative to another folder
    open_dataset("data/train")                             # Kaldi dir (wav.scp, text, segments)
    open_dataset("saved_hf_dataset/")                      # datasets' save_to_disk folder
    open_dataset("saved_dataset_dict:test")                # one split of a saved DatasetDict
    open_dataset(datasets.Dataset(...))                    # an in-memory HF dataset
    open_dataset("/corpora/LibriSpeech/test-clean")        # LibriSpeech tree (.flac / .wav)
    open_dataset("hf:openslr/librispeech_asr:clean:test")  # HF hub (network)
"""
from speechbudget.datasets.base import (Columns, Dataset, DatasetError, FileDataset, Record,
                                        read_file)
from speechbudget.datasets.open import open_dataset

__all__ = ["Columns", "Dataset", "DatasetError", "FileDataset", "Record", "open_dataset",
           "read_file"]
