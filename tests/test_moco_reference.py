"""smallssl's MoCo training step against an independent MoCo v2 written here from the MoCo paper's pseudocode (He et al.
2020, Algorithm 1) and the official implementation's order of operations.

Nothing below imports `smallssl.moco` or `smallssl.train` for the reference side: it has its own queue, momentum update,
shuffle-BN (the batch split into groups that each see their own BatchNorm statistics, as one GPU each would) and loss.
Both start from the same weights, see the same batches and the same shuffle permutations (smallssl's `shuffle_index` is
replaced by one that hands out the permutations drawn here), and must agree on the loss, the gradients, the key encoder
and the queue at every one of 20 steps, with 1 and 2 shuffle-BN groups, and with the symmetric loss of MoCo's CIFAR-10 demo.

Why the reference is re-synchronised after each step's comparison: from a random initialisation the outputs of all images
point in nearly the same direction, and the first steps are chaotic. Measured with this test's settings, a float32
rounding difference of 1e-6 in the gradients grows about a hundredfold per step (1e-6, 2e-4, 3e-2, 0.3 relative error in
steps 0 to 3, for two implementations that are both right). So each step is compared from the same state: after the
checks the reference takes over smallssl's weights, BatchNorm statistics, optimiser momentum and queue, and every one of
the 20 steps is checked on its own (a bug in any part of the step shows at the first step it touches).
"""
import copy
import pytest, torch
import torch.nn.functional as F

import smallssl.moco
import smallssl.train

STEPS, N, SIZE, DIM, K, M, T, LR = 20, 16, 32, 16, 64, 0.99, 0.1, 0.03


class ReferenceMoCo:
    "MoCo v2 from the pseudocode: f_q learns, f_k follows by momentum, a FIFO queue of keys, InfoNCE with the positive first."
    def __init__(self, f_q, queue, groups, symmetric=False):
        self.f_q = copy.deepcopy(f_q)
        self.f_k = copy.deepcopy(f_q)                       # f_k.params = f_q.params
        for p in self.f_k.parameters(): p.requires_grad = False
        self.queue, self.ptr, self.groups, self.symmetric = queue.clone(), 0, groups, symmetric   # C x K
        self.opt = torch.optim.SGD(self.f_q.parameters(), lr=LR, momentum=0.9, weight_decay=1e-4)

    @torch.no_grad()
    def sync_from(self, moco, opt):
        "Take over `moco`'s state (weights, BatchNorm statistics, SGD momentum, queue): the next step starts from it."
        self.f_q.load_state_dict(moco.encoder_q.state_dict()); self.f_k.load_state_dict(moco.encoder_k.state_dict())
        self.queue.copy_(moco.queue)
        for p, r in zip(moco.encoder_q.parameters(), self.f_q.parameters()):
            self.opt.state[r]['momentum_buffer'] = opt.state[p]['momentum_buffer'].clone()

    def forward_split(self, net, x):
        "BatchNorm per group, as `groups` GPUs would compute it; the running statistics are those of group 0 (DDP keeps rank 0's)."
        if self.groups == 1: return net(x)
        chunks = torch.split(x, x.shape[0] // self.groups)
        out = [net(chunks[0])]
        kept = {n: b.detach().clone() for n, b in net.named_buffers()}
        out += [net(c) for c in chunks[1:]]
        for n, b in net.named_buffers(): b.data.copy_(kept[n])   # .data: the graph saved these tensors, keep their version
        return torch.cat(out)

    def keys(self, x, perm):
        with torch.no_grad():
            k = self.forward_split(self.f_k, x[perm])                          # shuffled batch through the key encoder
            return F.normalize(k, dim=1)[torch.argsort(perm)]                  # N x C, back in the order of the queries

    def logits(self, q, k):
        l_pos = torch.bmm(q.view(N, 1, -1), k.view(N, -1, 1)).view(N, 1)       # N x 1
        l_neg = torch.mm(q, self.queue)                                        # N x K
        return torch.cat([l_pos, l_neg], dim=1) / T

    def step(self, x_q, x_k, perms):
        # the official code moves f_k before computing the keys (the paper's pseudocode does it after the SGD update of
        # the previous step: the same sequence of states)
        with torch.no_grad():
            for pk, pq in zip(self.f_k.parameters(), self.f_q.parameters()): pk.mul_(M).add_(pq.detach(), alpha=1 - M)
        q = F.normalize(self.forward_split(self.f_q, x_q), dim=1)              # N x C
        k = self.keys(x_k, perms[0])
        logits, new = self.logits(q, k), k
        if self.symmetric:   # MoCo's CIFAR-10 demo: swap the views' roles, enqueue both keys (query view's first)
            q2 = F.normalize(self.forward_split(self.f_q, x_k), dim=1)
            k2 = self.keys(x_q, perms[1])
            logits, new = torch.cat([logits, self.logits(q2, k2)]), torch.cat([k2, k])
        loss = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long))   # the mean over both directions
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        B = len(new)
        self.queue[:, self.ptr:self.ptr + B] = new.T                           # enqueue the newest keys, drop the oldest
        self.ptr = (self.ptr + B) % K
        return loss.detach()


def _close(a, b, what, step, tol=1e-4):
    "Equal up to float32 rounding: the two sides sum in different orders (relative to the tensor's size, as a whole)."
    err = ((a - b).norm() / b.norm().clamp_min(1e-12)).item()
    assert err < tol, f"step {step}: {what} differs (relative error {err:.3g}, max |diff| {(a - b).abs().max():.3g})"


@pytest.mark.parametrize('groups,symmetric', [(1, False), (2, False), (2, True)])
def test_moco_step_equals_independent_moco(groups, symmetric, monkeypatch):
    torch.manual_seed(0)
    ours = smallssl.moco.MoCo('resnet18', dim=DIM, K=K, m=M, T=T, mlp='wide', image_size=SIZE, stem='imagenet',
                              shuffle_groups=groups, symmetric=symmetric)
    ref = ReferenceMoCo(ours.encoder_q, ours.queue, groups, symmetric)
    opt = torch.optim.SGD([p for p in ours.parameters() if p.requires_grad], lr=LR, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler('cpu', enabled=False)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(N, 3, SIZE, SIZE, generator=g), torch.randn(N, 3, SIZE, SIZE, generator=g)) for _ in range(STEPS)]
    perms = [[torch.randperm(N, generator=g) for _ in range(2 if symmetric else 1)] for _ in range(STEPS)]
    handed = iter([p for ps in perms for p in ps])
    def shuffle_index(n, device=None):
        p = next(handed)
        return p.to(device), torch.argsort(p).to(device)
    monkeypatch.setattr(smallssl.moco, 'shuffle_index', shuffle_index)
    ours.train(); ref.f_q.train(); ref.f_k.train()

    for step, ((x_q, x_k), perm) in enumerate(zip(batches, perms)):
        loss, logits, labels = smallssl.train.train_step(ours, x_q, x_k, opt, scaler)
        ref_loss = ref.step(x_q, x_k, perm)
        _close(loss, ref_loss, 'loss', step)
        for (name, p), r in zip(ours.encoder_q.named_parameters(), ref.f_q.parameters()):
            _close(p.grad, r.grad, f'gradient of encoder_q.{name}', step)
            _close(p, r, f'encoder_q.{name}', step)
        for (name, p), r in zip(ours.encoder_k.state_dict().items(), ref.f_k.state_dict().values()):
            _close(p.float(), r.float(), f'encoder_k.{name}', step)
        _close(ours.queue, ref.queue, 'queue', step)
        assert int(ours.queue_ptr) == ref.ptr, step
        ref.sync_from(ours, opt)
    # the run is not trivial: the key encoder moved away from its start and the whole queue was replaced
    assert not torch.allclose(ours.encoder_k.fc[0].weight, ref.f_q.fc[0].weight)
    if groups > 1: assert next(handed, None) is None, "every permutation was used once"   # one group: nothing to shuffle
