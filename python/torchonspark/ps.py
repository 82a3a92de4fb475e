"""Parameter servers for PyTorch modules: the runtime's C++ servers, optimizers and client
(docs/training.md), used from a Python training function.

    def map_fun(args, ctx):
        if ctx.job_name == "ps":
            return ps.serve(ctx)                       # until the driver stops the job
        model = Net()
        client = ps.PsClient(ctx, model)
        if ctx.is_chief:
            client.initialize("adagrad", learning_rate=0.01, initial_accumulator=0.1)
        client.wait_initialized()                      # the ps's values are now in model
        for x, y in batches:
            model.zero_grad(); loss(model(x), y).backward()
            client.push()                              # updated on the ps, new values back
        client.leave()

The client writes pulled values straight into the module's parameters (float32 CPU tensors,
through their storage), so the module sees them at once; push() sends their .grad.
"""


def _train():
    from . import _native
    return _native.load_train()


def serve(ctx, synchronous=False, poll_secs=0.5):
    """Runs this ps node's shard on its reserved port until the driver stops the job (or a
    client calls stop_servers). synchronous: apply one mean update per round of all workers."""
    t = _train()
    ps_nodes = ctx.cluster_spec.get("ps", [])
    server = t.PsServer(ctx.task_index, len(ps_nodes), ctx.num_workers, ctx._native.secret,
                        ctx._native.reserved_port().take_fd(), bool(synchronous))
    ctx.set_status("serving parameters (shard %d)" % ctx.task_index)
    while not ctx.wait_for_stop(poll_secs):
        if server.wait(0):
            break  # stopped by a client
    server.stop()
    server.wait(30)


class PsClient(object):
    """A worker's client of every ps shard, attached to a module's parameters."""

    def __init__(self, ctx, module, rpc_timeout_secs=600):
        t = _train()
        self._params = []
        named = []
        for name, p in module.named_parameters():
            if p.dtype.is_floating_point is False or str(p.dtype) != "torch.float32" or p.device.type != "cpu":
                raise TypeError("parameter %s is %s on %s: the parameter server holds float32 CPU "
                                "parameters" % (name, p.dtype, p.device))
            if not p.data.is_contiguous():
                raise TypeError("parameter %s is not contiguous" % name)
            self._params.append(p)
            named.append((name, p.data.numpy()))
        ps_nodes = ctx.cluster_spec.get("ps", [])
        if not ps_nodes:
            raise ValueError("the cluster has no ps nodes: run it with num_ps >= 1")
        self._c = t.PsClient(ps_nodes, ctx._native.secret, max(0, ctx.worker_index), named,
                             float(rpc_timeout_secs))

    def initialize(self, optimizer="adagrad", **settings):
        """Initializes every shard with the module's current values and the optimizer (type
        "sgd", "momentum", "adagrad" or "adam"; settings learning_rate, momentum, nesterov,
        initial_accumulator, beta1, beta2, epsilon, TensorFlow's defaults). Shards already
        initialized keep their state. Typically the chief's call."""
        spec = dict(settings, type=optimizer)
        self._c.initialize(spec)

    def wait_initialized(self, timeout_secs=600):
        """Waits until every shard is initialized, then copies their values into the module."""
        self._c.wait_initialized(float(timeout_secs))

    def pull(self):
        self._c.pull()

    def push(self, pull_after=True):
        """Sends the parameters' gradients (none: zeros); with pull_after the updated values come
        back in the same call, into the module."""
        grads = []
        for p in self._params:
            g = p.grad
            if g is None:
                grads.append(None)
            else:
                if not g.is_contiguous():
                    g = g.contiguous()
                grads.append(g.numpy())
        self._c.push(grads, bool(pull_after))

    @property
    def global_step(self):
        return self._c.global_step

    def leave(self):
        """This worker pushes no more (synchronous rounds go on without it)."""
        self._c.leave()

    def stop_servers(self):
        self._c.stop_servers()

    def state(self):
        """(global_step, {name: numpy array}) of every shard: values and optimizer slots."""
        return self._c.state()
