"""The seen-logit order of a finetuned network. Networks finetuned here score the seen classes in the prepared order
(sorted class ids); the original's released networks follow its split file's `train_cid`. `seen_class_order` (an
experiment and alpha-extraction key) names that order, and the stages read the logits through it."""
import scipy.io

from utils.cli import UserError
from utils.config import Field

SEEN_CLASS_ORDER = Field((str, list, type(None)), default=None,
                         help="the class id of each seen logit of the finetuned network, or the original's split .mat "
                              "whose train_cid lists them (its released models); null: the prepared order")


def seen_logit_order(order, seen_ids, where):
    """Which logit of the network scores each of `seen_ids` (the prepared order), or None when the network follows
    that order. `order`: the config's seen_class_order; `where`: the prepared classes it must cover, for errors."""
    if order is None:
        return None
    source = f"'seen_class_order' ({order})" if isinstance(order, str) else "'seen_class_order'"
    if isinstance(order, str):
        try:
            ids = scipy.io.loadmat(order, variable_names=["train_cid"])["train_cid"].ravel().tolist()
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{order}: not a split .mat with 'train_cid' ({type(err).__name__}); point "
                            "'seen_class_order' at the original's split file or list the class ids") from None
    else:
        ids = order
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in ids):
        raise UserError(f"{source}: give the seen class ids as numbers, or the path of the original's split .mat")
    ids = [int(c) for c in ids]
    if sorted(ids) != sorted(seen_ids):
        raise UserError(f"{source}: lists {len(ids)} classes, not the {len(seen_ids)} seen classes of {where}; it "
                        "must name each seen class once")
    return [ids.index(c) for c in seen_ids]
