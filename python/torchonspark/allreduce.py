"""Data-parallel training over the runtime's TCP ring: the C++ GradientAllreducer
(docs/training.md) on a PyTorch module, rendezvous through the job's store.

    ar = allreduce.Allreducer(ctx, model)           # every trainer, same module layout
    ar.broadcast_parameters()                       # all start from the chief's values
    while True:
        batch = next_batch_or_none()
        opt.zero_grad()
        if batch is not None:
            loss_fn(model(x), y).backward()
        if not ar.average_gradients(more=batch is not None):
            break                                   # some trainer ran out: all stop here
        opt.step()

An alternative to DistributedDataParallel for small models on busy machines: the ring runs in
the calling thread (no Gloo helper threads), and its parameters stay bit-identical.
"""

from .ps import _train


class Allreducer(object):
    def __init__(self, ctx, module, name="allreduce", timeout_secs=300):
        if ctx.worker_index < 0:
            raise ValueError("Allreducer is for the trainers; this node is %s:%d" % (ctx.job_name, ctx.task_index))
        self._params = []
        named = []
        for pname, p in module.named_parameters():
            if str(p.dtype) != "torch.float32" or p.device.type != "cpu" or not p.data.is_contiguous():
                raise TypeError("parameter %s must be a contiguous float32 CPU tensor" % pname)
            self._params.append(p)
            named.append((pname, p.data.numpy()))
        self._a = _train().Allreducer(ctx._native.reservation_address, ctx._native.secret, name,
                                      ctx.worker_index, ctx.num_workers, ctx.host, float(timeout_secs), named)

    def broadcast_parameters(self, root=0):
        """Overwrites every trainer's parameters with those of worker_index `root`."""
        self._a.broadcast(int(root))

    def average_gradients(self, more=True):
        """Replaces each parameter's .grad with its mean over the trainers (a missing one
        counts as zeros). more=False says this trainer has no batch this step. Returns False
        once any trainer said so: then no trainer should step, and all stop together."""
        import torch
        grads = []
        for p in self._params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            elif not p.grad.is_contiguous():
                p.grad = p.grad.contiguous()
            grads.append(p.grad.numpy())
        return self._a.average(grads, bool(more))
