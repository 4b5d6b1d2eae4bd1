"""Dataset registry: what each dataset is (:class:`DatasetInfo`) and how to build a split of it.

``build_dataset(name, split, ...)`` returns a ``torch.utils.data.Dataset`` whose items are
``(frames float32 [T, C, H, W], label int)``; static images (CIFAR) are repeated T times
(direct encoding).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from mpe_psn.data import synthetic as _synthetic
from mpe_psn.data.sources import check_options

__all__ = ["DatasetInfo", "DATASETS", "dataset_info", "build_dataset", "check_dataset_options", "SPLITS"]

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: the network input it yields and its classes."""

    name: str
    num_classes: int
    in_channels: int
    height: int
    width: int
    default_T: int
    kind: str  # "events" | "images" | "temporal" (spike trains [T, channels]; height = width = 1)
    class_names: tuple[str, ...]
    sensor: tuple[int, int] | None = None  # (height, width) of the camera, events only
    source: str = ""  # where users obtain the data
    module: str = ""  # module with build(split, root, T, size, augment, cache_dir, skip_bad, **options)


_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR100_CLASSES = tuple(
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()
)
_GESTURE_CLASSES = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
#: The 101 folders of N-Caltech101 (100 categories and BACKGROUND_Google), in sorted() order.
NCALTECH101_CLASSES = tuple(
    sorted(
        "accordion airplanes anchor ant barrel bass beaver binocular bonsai brain brontosaurus buddha butterfly "
        "camera cannon car_side ceiling_fan cellphone chair chandelier cougar_body cougar_face crab crayfish "
        "crocodile crocodile_head cup dalmatian dollar_bill dolphin dragonfly electric_guitar elephant emu euphonium "
        "ewer Faces_easy ferry flamingo flamingo_head garfield gerenuk gramophone grand_piano hawksbill headphone "
        "hedgehog helicopter ibis inline_skate joshua_tree kangaroo ketch lamp laptop Leopards llama lobster lotus "
        "mandolin mayfly menorah metronome minaret Motorbikes nautilus octopus okapi pagoda panda pigeon pizza "
        "platypus pyramid revolver rhino rooster saxophone schooner scissors scorpion sea_horse snoopy soccer_ball "
        "stapler starfish stegosaurus stop_sign strawberry sunflower tick trilobite umbrella watch water_lilly "
        "wheelchair wild_cat windsor_chair wrench yin_yang BACKGROUND_Google".split()
    )
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "synthetic", len(_synthetic.CLASS_NAMES), 2, 32, 32, 8, "events", _synthetic.CLASS_NAMES,
            sensor=(32, 32), source="built in: generated on first use, no download",
            module="mpe_psn.data.synthetic_source",
        ),
        DatasetInfo(
            "dvs-gesture", 11, 2, 64, 64, 16, "events", _GESTURE_CLASSES, sensor=(128, 128),
            source="IBM DVS128 Gesture (DvsGesture.tar.gz: AEDAT 3.1 files, *_labels.csv, trials_to_train.txt, "
            "trials_to_test.txt) from research.ibm.com/dvsgesture, or the folders ibmGestureTrain/ibmGestureTest "
            "that Tonic prepares",
            module="mpe_psn.data.dvs_gesture",
        ),
        DatasetInfo(
            "cifar10-dvs", 10, 2, 48, 48, 10, "events", _CIFAR10_CLASSES, sensor=(128, 128),
            source="CIFAR10-DVS (one folder per class of AEDAT 2.0 .aedat files, or the AEDAT 4 release), "
            "figshare 'CIFAR10-DVS'",
            module="mpe_psn.data.cifar10_dvs",
        ),
        DatasetInfo(
            "n-caltech101", 101, 2, 48, 48, 10, "events", NCALTECH101_CLASSES, sensor=(180, 240),
            source="N-Caltech101 (Caltech101/<class>/image_XXXX.bin, ATIS binary), from Garrick Orchard's "
            "N-Caltech101 page (Mendeley data)",
            module="mpe_psn.data.ncaltech101",
        ),
        DatasetInfo(
            "cifar10", 10, 3, 32, 32, 4, "images", _CIFAR10_CLASSES,
            source="CIFAR-10 python version (cifar-10-batches-py/) from www.cs.toronto.edu/~kriz/cifar.html",
            module="mpe_psn.data.cifar",
        ),
        DatasetInfo(
            "cifar100", 100, 3, 32, 32, 4, "images", _CIFAR100_CLASSES,
            source="CIFAR-100 python version (cifar-100-python/) from www.cs.toronto.edu/~kriz/cifar.html",
            module="mpe_psn.data.cifar",
        ),
    )
}


# Temporal spike data: items are (frames [T, channels], label); in_channels is the channel count
from mpe_psn.data.shd import SHD_CLASSES, SSC_CLASSES  # noqa: E402
from mpe_psn.data.temporal_task import TEMPORAL_CLASSES  # noqa: E402

DATASETS.update(
    (info.name, info)
    for info in (
        DatasetInfo(
            "temporal", len(TEMPORAL_CLASSES), 700, 1, 1, 100, "temporal", TEMPORAL_CLASSES,
            source="built in: spike patterns whose class lives only in spike timing, generated on first use, "
            "no download", module="mpe_psn.data.temporal_task",
        ),
        DatasetInfo(
            "shd", 20, 700, 1, 1, 100, "temporal", SHD_CLASSES,
            source="the Spiking Heidelberg Digits HDF5 files shd_train.h5 and shd_test.h5 (gunzip the published "
            "shd_train.h5.gz / shd_test.h5.gz from zenkelab.org/datasets)",
            module="mpe_psn.data.shd",
        ),
        DatasetInfo(
            "ssc", 35, 700, 1, 1, 100, "temporal", SSC_CLASSES,
            source="the Spiking Speech Commands HDF5 files ssc_train.h5 and ssc_test.h5 (ssc_valid.h5 optional; "
            "gunzip the published .h5.gz files from zenkelab.org/datasets)",
            module="mpe_psn.data.shd",
        ),
    )
)

# Tonic's datasets, read from the copy Tonic downloaded (mpe_psn.data.tonic_source; Tonic imported on use)
from mpe_psn.data.tonic_source import TONIC_DATASETS as _TONIC_DATASETS  # noqa: E402

DATASETS.update(
    (name, DatasetInfo(name, len(classes), 2, side, side, default_T, "events", classes, sensor=sensor,
                       source=f"the folder Tonic saved {tonic_class} to (its save_to), as tonic.datasets.{tonic_class} "
                       "lays it out", module="mpe_psn.data.tonic_source"))
    for name, (tonic_class, sensor, classes, side, default_T) in _TONIC_DATASETS.items()
)


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; an unknown name lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def check_dataset_options(name: str, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming an unknown dataset, an option it does not take or (where the
    dataset can tell without reading data) an impossible value; builds nothing, reads nothing."""
    info = dataset_info(name)
    module = importlib.import_module(info.module)
    check = getattr(module, "validate_options", None)  # a module that can check values too
    if callable(check):
        check(dict(options))
    elif getattr(module, "OPTIONS", None) is not None:
        check_options(name, dict(options), module.OPTIONS)


def build_dataset(
    name: str,
    split: str,
    *,
    root: "str | None" = None,
    T: "int | None" = None,
    size: "int | tuple[int, int] | None" = None,
    augment: bool = False,
    cache_dir: "str | None" = None,
    skip_bad: bool = False,
    **options: Any,
):
    """One split (``"train"`` or ``"test"``) of dataset ``name`` as frames.

    ``T`` defaults to the dataset's ``default_T``; ``size`` (int or (h, w)) to its network
    input size. ``root`` is the folder with the user's copy (not needed for "synthetic").
    ``augment`` turns on the training augmentation. ``skip_bad`` skips unreadable
    recordings with a warning (counted in ``dataset.skipped``) instead of raising.
    ``options`` are dataset-specific (see docs/datasets.md); unknown ones are an error.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if T is None:
        T = info.default_T
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if size is None:
        size = (info.height, info.width)
    elif isinstance(size, int):
        size = (size, size)
    size = (int(size[0]), int(size[1]))
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"size must be positive, got {size}")
    module = importlib.import_module(info.module)
    return module.build(
        info, split, root=root, T=T, size=size, augment=augment, cache_dir=cache_dir, skip_bad=skip_bad, **options
    )
