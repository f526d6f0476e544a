"""`haliax.nn.loss`: namedax's `nn` loss layer family under Haliax's module path."""

from namedax.nn._loss import (
    binary_cross_entropy_loss as binary_cross_entropy_loss,
    cross_entropy_loss as cross_entropy_loss,
    cross_entropy_loss_and_log_normalizers as cross_entropy_loss_and_log_normalizers,
    maybe_reduce_loss as maybe_reduce_loss,
    one_hot as one_hot,
    reduce_loss as reduce_loss,
)
