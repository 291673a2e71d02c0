"""The generated dataset: procedurally drawn, attribute-annotated images in the official CUB-200-2011 layout plus an
xlsa17-format proposed split, so preparation and every stage run on it unchanged (`python -m utils.synthetic`).

Each class is a (shape, colour, pattern) combination, and where more classes are asked for than those 108
combinations hold (the paper's CUB-200 has 200), a (shape, colour, pattern, outline) one: datasets of up to 108
classes are drawn exactly as before the outline existed. Position, size, rotation, brightness and background are
nuisances. Unseen classes are new combinations of attribute values that all occur among the seen classes, so
attribute-based zero-shot transfer is possible, and the validation split (trainclasses1/valclasses1) has the same
property within the seen classes. Deterministic from the seed.
"""
import argparse
import itertools
import math
import os

import numpy as np
import scipy.io
from PIL import Image, ImageDraw

from utils import fileio
from utils.cli import UserError, main_guard

SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon")
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 225),
           "yellow": (235, 215, 40), "magenta": (205, 50, 205), "cyan": (40, 205, 215)}
PATTERNS = ("solid", "striped", "dotted")
OUTLINES = {"unoutlined": None, "dark-outlined": (25, 25, 25), "white-outlined": (250, 250, 250)}
# Properties shared by several values: correlated attributes, as real attribute vocabularies have.
POINTED_SHAPES = ("triangle", "star")
CONVEX_SHAPES = ("circle", "square", "triangle", "hexagon")
WARM_COLOURS = ("red", "yellow", "magenta")
TEXTURED_PATTERNS = ("striped", "dotted")

SYNONYMS = {
    "circle": ("circle", "disc", "round blob"), "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "three-cornered shape"), "star": ("star", "five-pointed star", "starburst"),
    "cross": ("cross", "plus sign", "cross shape"), "hexagon": ("hexagon", "six-sided shape", "honeycomb cell"),
    "red": ("red", "crimson", "scarlet"), "green": ("green", "emerald", "grass-green"),
    "blue": ("blue", "navy", "azure"), "yellow": ("yellow", "golden", "lemon"),
    "magenta": ("magenta", "purple", "fuchsia"), "cyan": ("cyan", "turquoise", "teal"),
    "solid": ("plain", "solid", "uniform"), "striped": ("striped", "banded", "stripy"),
    "dotted": ("dotted", "spotted", "polka-dot"),
    "unoutlined": ("with no outline", "borderless", "unbordered"),
    "dark-outlined": ("with a dark outline", "black-edged", "dark-bordered"),
    "white-outlined": ("with a white outline", "white-edged", "light-bordered"),
}
TEMPLATES = (
    "a {colour} {shape} with a {pattern} fill {where}",
    "this {shape} is {colour} and {pattern}",
    "the picture shows a {size} {pattern} {colour} {shape}",
    "{pattern} {shape}, mostly {colour}, {where}",
    "an object shaped like a {shape}, coloured {colour}, with a {pattern} texture",
)


def factors(n_classes):
    """The value lists that make a class: shape, colour, pattern, and the outline where more than their 108
    combinations are needed."""
    base = (SHAPES, tuple(COLOURS), PATTERNS)
    return base if n_classes <= np.prod([len(values) for values in base]) else base + (tuple(OUTLINES),)


def attribute_names(outlined=False):
    names = [f"has_shape::{s}" for s in SHAPES]
    names += [f"has_primary_color::{c}" for c in COLOURS]
    names += [f"has_pattern::{p}" for p in PATTERNS]
    names += ["has_shape_property::pointed", "has_shape_property::convex",
              "has_color_property::warm", "has_pattern_property::textured"]
    return names + [f"has_outline::{o}" for o in OUTLINES] if outlined else names


def binary_attributes(shape, colour, pattern, outline=None):
    values = [s == shape for s in SHAPES] + [c == colour for c in COLOURS] + [p == pattern for p in PATTERNS]
    values += [shape in POINTED_SHAPES, shape in CONVEX_SHAPES, colour in WARM_COLOURS, pattern in TEXTURED_PATTERNS]
    values += [o == outline for o in OUTLINES] if outline else []
    return np.array(values, dtype=np.float64)


def _covers_all_values(combos, space):
    return all(len({c[i] for c in combos}) == len(values) for i, values in enumerate(space))


def choose_classes(rng, n_classes, n_unseen, n_val):
    """Distinct classes (tuples of `factors` values); the unseen and validation classes are held out so that the
    classes that train still show every attribute value."""
    space = factors(n_classes)
    all_combos = list(itertools.product(*space))
    if not (0 < n_unseen and 0 <= n_val and n_unseen + n_val < n_classes <= len(all_combos)):
        raise UserError(f"--classes {n_classes} / --unseen {n_unseen} / --val-classes {n_val}: need "
                        f"unseen + val < classes <= {len(all_combos)}")
    for _ in range(10000):
        order = rng.permutation(len(all_combos))[:n_classes]
        combos = [all_combos[i] for i in order]
        seen, unseen = combos[n_unseen:], combos[:n_unseen]
        if _covers_all_values(seen, space) and _covers_all_values(seen[n_val:], space):
            return seen, unseen
    raise UserError(f"cannot hold out {n_unseen} unseen and {n_val} val classes from {n_classes} classes while the "
                    "training classes keep every attribute value; use more classes or fewer held-out ones")


def _shape_mask(shape, size, cx, cy, radius, angle, supersample=3):
    """Anti-aliased [size, size] mask in [0, 1] of the shape, drawn at `supersample` x resolution."""
    big = size * supersample
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    cx, cy, r = cx * supersample, cy * supersample, radius * supersample
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        if shape == "square":
            polar = [(r, math.pi / 4 + k * math.pi / 2) for k in range(4)]
        elif shape == "triangle":
            polar = [(r, k * 2 * math.pi / 3) for k in range(3)]
        elif shape == "hexagon":
            polar = [(r, k * math.pi / 3) for k in range(6)]
        elif shape == "star":
            polar = [(r if k % 2 == 0 else 0.45 * r, k * math.pi / 5) for k in range(10)]
        else:  # cross: a plus sign with arms of half-width 0.33 r
            w = 0.33 * r
            corners = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r), (-w, -r), (-w, -w), (-r, -w), (-r, w),
                       (-w, w), (-w, r)]
            polar = [(math.hypot(x, y), math.atan2(y, x)) for x, y in corners]
        points = [(cx + rho * math.cos(theta + angle), cy + rho * math.sin(theta + angle)) for rho, theta in polar]
        draw.polygon(points, fill=255)
    return np.asarray(img.resize((size, size), Image.BOX), dtype=np.float32) / 255.0


def _pattern_texture(rng, pattern, size, colour):
    """[size, size, 3] fill of the object: the colour, with dark stripes or dots of the same hue."""
    base = np.array(colour, dtype=np.float32) / 255.0 * rng.uniform(0.85, 1.1)
    tex = np.broadcast_to(base, (size, size, 3)).copy()
    if pattern == "solid":
        return tex
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if pattern == "striped":
        period = rng.uniform(5.0, 7.5)
        dark = np.mod(u / period + rng.uniform(), 1.0) < 0.45
    else:
        spacing = rng.uniform(6.0, 8.0)
        du = np.mod(u + rng.uniform(0, spacing), spacing) - spacing / 2
        dv = np.mod(v + rng.uniform(0, spacing), spacing) - spacing / 2
        dark = du ** 2 + dv ** 2 < (0.27 * spacing) ** 2
    tex[dark] *= 0.3
    return tex


def render_image(rng, shape, colour, pattern, size, outline=None):
    """One uint8 [size, size, 3] image and its nuisance factors (for the text descriptions); an outline is a band
    of its colour around the shape, 0.18 of the radius wide."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    grey = rng.uniform(0.25, 0.8)
    tint = rng.uniform(-0.08, 0.08, size=3)
    gradient_dir = rng.uniform(0, 2 * np.pi)
    gradient = rng.uniform(0, 0.25) * ((xx - 0.5) * np.cos(gradient_dir) + (yy - 0.5) * np.sin(gradient_dir))
    background = grey + tint + gradient[..., None] + rng.normal(0, 0.05, size=(size, size, 3))
    radius = rng.uniform(0.2, 0.36) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    mask = _shape_mask(shape, size, cx, cy, radius, angle)[..., None]
    texture = _pattern_texture(rng, pattern, size, COLOURS[colour])
    if OUTLINES.get(outline):  # the shape drawn larger behind itself: a band of the outline's colour
        band = np.clip(_shape_mask(shape, size, cx, cy, radius * 1.18, angle)[..., None] - mask, 0, 1)
        background = background * (1 - band) + np.array(OUTLINES[outline], np.float32) / 255.0 * band
    image = background * (1 - mask) + texture * mask + rng.normal(0, 0.03, size=(size, size, 3))
    nuisance = {"x": cx / size, "y": cy / size, "radius": radius / size}
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), nuisance


def describe(rng, shape, colour, pattern, nuisance, n_lines, outline=None):
    """Free-text descriptions of one image: paraphrases of its attributes plus words about its nuisances."""
    vertical = "top" if nuisance["y"] < 0.45 else "bottom" if nuisance["y"] > 0.55 else "middle"
    horizontal = "left" if nuisance["x"] < 0.45 else "right" if nuisance["x"] > 0.55 else "centre"
    where = f"near the {vertical} {horizontal}" if vertical != "middle" or horizontal != "centre" else "in the centre"
    size_word = "small" if nuisance["radius"] < 0.26 else "large" if nuisance["radius"] > 0.3 else "medium"
    lines = []
    for template in rng.choice(TEMPLATES, size=n_lines, replace=True):
        pick = {k: str(rng.choice(SYNONYMS[v])) for k, v in (("shape", shape), ("colour", colour),
                                                             ("pattern", pattern))}
        line = template.format(where=where, size=size_word, **pick)
        lines.append(f"{line}, {rng.choice(SYNONYMS[outline])}" if outline else line)
    return lines


def class_dir_name(class_id, shape, colour, pattern, outline=None):
    name = f"{class_id:03d}.{colour.capitalize()}_{pattern.capitalize()}_{shape.capitalize()}"
    return f"{name}_{outline.capitalize()}" if outline else name


def _continuous_attributes(rng, binary):
    """CUB-like class percentages (0-100): present attributes high, absent low, each with per-class jitter."""
    high = rng.uniform(65, 100, size=binary.shape)
    low = rng.uniform(0, 15, size=binary.shape)
    return np.where(binary > 0, high, low)


def _cell_column(strings):
    """A MATLAB N x 1 cell array of strings, as xlsa17 stores allclasses_names."""
    cells = np.empty((len(strings), 1), dtype=object)
    for i, text in enumerate(strings):
        cells[i, 0] = np.array([text])
    return cells


def generate(out_dir, seed=0, n_classes=40, n_unseen=10, n_val_classes=10, images_per_class=100,
             image_size=64, test_seen_fraction=0.2, n_text_lines=5):
    """Write the dataset into `out_dir` (replacing it atomically); return a summary dict."""
    rng = np.random.default_rng(seed)
    seen, unseen = choose_classes(rng, n_classes, n_unseen, n_val_classes)
    class_order = rng.permutation(n_classes)  # class ids 1..n are not grouped by seen/unseen
    combos = [(seen + unseen)[i] for i in class_order]
    names = [class_dir_name(k + 1, *combo) for k, combo in enumerate(combos)]
    is_unseen = [combo in unseen for combo in combos]
    val_classes = {names[k] for k, c in enumerate(combos) if c in seen[:n_val_classes]}

    with fileio.atomic_dir(out_dir) as tmp_dir:
        return _write_dataset(tmp_dir, seed, rng, combos, names, is_unseen, val_classes, images_per_class,
                              image_size, test_seen_fraction, n_text_lines)


def _write_xlsa17_split(split_dir, mat_order, names, is_unseen, val_classes, continuous, locs):
    """The xlsa17 proposed split: class lists and att_splits.mat, its class columns in `mat_order` (like CUB's
    allclasses_names, not in class-id order); `locs`: the 1-based image ids of trainval, test seen, test unseen."""
    seen_names = [n for n, u in zip(names, is_unseen) if not u]
    fileio.write_lines(os.path.join(split_dir, "allclasses.txt"), [names[k] for k in mat_order])
    fileio.write_lines(os.path.join(split_dir, "trainvalclasses.txt"), seen_names)
    fileio.write_lines(os.path.join(split_dir, "testclasses.txt"), [n for n, u in zip(names, is_unseen) if u])
    fileio.write_lines(os.path.join(split_dir, "trainclasses1.txt"), [n for n in seen_names if n not in val_classes])
    fileio.write_lines(os.path.join(split_dir, "valclasses1.txt"), [n for n in seen_names if n in val_classes])
    original_att = continuous[mat_order].T
    trainval_loc, test_seen_loc, test_unseen_loc = (np.array(ids, dtype=np.uint16)[:, None] for ids in locs)
    with fileio.atomic_path(os.path.join(split_dir, "att_splits.mat")) as tmp:
        scipy.io.savemat(tmp, {
            "allclasses_names": _cell_column([names[k] for k in mat_order]),
            "original_att": original_att,
            "att": original_att / np.linalg.norm(original_att, axis=0, keepdims=True),
            "trainval_loc": trainval_loc, "test_seen_loc": test_seen_loc, "test_unseen_loc": test_unseen_loc})


def _write_dataset(tmp_dir, seed, rng, combos, names, is_unseen, val_classes, images_per_class, image_size,
                   test_seen_fraction, n_text_lines):
    """Render every image and write the CUB-layout files and the xlsa17 split into `tmp_dir`."""
    n_classes, n_unseen = len(combos), sum(is_unseen)
    image_lines, label_lines, split_lines = [], [], []
    trainval_loc, test_seen_loc, test_unseen_loc = [], [], []
    image_id = 0
    for k, combo in enumerate(combos):
        shape, colour, pattern, outline = (*combo, None)[:4]
        class_rng = np.random.default_rng([seed, k])
        n_test = int(round(test_seen_fraction * images_per_class))
        test_idx = set(class_rng.permutation(images_per_class)[:n_test].tolist())
        os.makedirs(os.path.join(tmp_dir, "images", names[k]))
        os.makedirs(os.path.join(tmp_dir, "text_c10", names[k]))
        for i in range(images_per_class):
            image_id += 1
            image, nuisance = render_image(class_rng, shape, colour, pattern, image_size, outline)
            rel = f"{names[k]}/{names[k][4:]}_{i + 1:04d}.jpg"
            Image.fromarray(image).save(os.path.join(tmp_dir, "images", rel), quality=95, subsampling=0)
            text = describe(class_rng, shape, colour, pattern, nuisance, n_text_lines, outline)
            with open(os.path.join(tmp_dir, "text_c10", rel[:-4] + ".txt"), "w") as f:
                f.write("\n".join(text) + "\n")
            image_lines.append(f"{image_id} {rel}")
            label_lines.append(f"{image_id} {k + 1}")
            in_trainval = not is_unseen[k] and i not in test_idx
            split_lines.append(f"{image_id} {int(in_trainval)}")
            (test_unseen_loc if is_unseen[k] else test_seen_loc if i in test_idx else trainval_loc).append(image_id)

    binary = np.stack([binary_attributes(*combo) for combo in combos])
    continuous = _continuous_attributes(rng, binary)
    attr_names = attribute_names(outlined=len(combos[0]) == 4)
    join = os.path.join
    fileio.write_lines(join(tmp_dir, "classes.txt"), [f"{k + 1} {n}" for k, n in enumerate(names)])
    fileio.write_lines(join(tmp_dir, "images.txt"), image_lines)
    fileio.write_lines(join(tmp_dir, "image_class_labels.txt"), label_lines)
    fileio.write_lines(join(tmp_dir, "train_test_split.txt"), split_lines)
    fileio.write_lines(join(tmp_dir, "attributes.txt"), [f"{j + 1} {n}" for j, n in enumerate(attr_names)])
    fileio.write_lines(join(tmp_dir, "attributes", "class_attribute_labels_continuous.txt"),
                       [" ".join(f"{v:.4f}" for v in row) for row in continuous])
    fileio.write_lines(join(tmp_dir, "attributes", "class_attribute_labels_binary.txt"),
                       [" ".join(str(int(v)) for v in row) for row in binary])

    _write_xlsa17_split(join(tmp_dir, "xlsa17_proposed_split"), rng.permutation(n_classes), names, is_unseen,
                        val_classes, continuous, (trainval_loc, test_seen_loc, test_unseen_loc))
    summary = {"seed": seed, "classes": n_classes, "seen_classes": n_classes - n_unseen, "unseen_classes": n_unseen,
               "val_classes": len(val_classes), "images_per_class": images_per_class, "image_size": image_size,
               "attributes": len(attr_names), "trainval": len(trainval_loc), "test_seen": len(test_seen_loc),
               "test_unseen": len(test_unseen_loc)}
    fileio.write_json(join(tmp_dir, "generation.json"), summary)
    return summary


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/synth", help="output folder (replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--unseen", type=int, default=10)
    parser.add_argument("--val-classes", type=int, default=10, help="seen classes held out in valclasses1.txt")
    parser.add_argument("--images-per-class", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    summary = generate(args.out, seed=args.seed, n_classes=args.classes, n_unseen=args.unseen,
                       n_val_classes=args.val_classes, images_per_class=args.images_per_class,
                       image_size=args.image_size)
    print(f"generated {args.out}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
