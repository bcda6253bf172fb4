"""MoCo v2 with lightly, written as lightly's documented MoCo example (examples/pytorch/moco.py), for `bench/peer_bench.py`.

The example's structure (a `MoCo` module with backbone, `MoCoProjectionHead` and their momentum copies; `MoCoV2Transform`;
`NTXentLoss` with a memory bank; `update_momentum` before each step; a plain DataLoader) with the benchmark's recipe in
place of the example's settings: the encoder and stem of smallssl's `-a ARCH --stem small`, batch 64, SGD lr 0.03 with
momentum 0.9 and weight decay 1e-4 on a per-epoch cosine, queue 1024, m 0.99, T 0.1, and the blur range scaled to the image
size as smallssl scales it. Runs in a virtual environment that has lightly (and not smallssl); prints one JSON line per epoch.

    LIGHTLY_PYTHON bench/lightly_moco.py DATA/train -a mobilenetv3_small --epochs 3
"""
import argparse, copy, json, math, time

import torch
import torchvision
from torch import nn

from lightly.data import LightlyDataset
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.transforms.moco_transform import MoCoV2Transform


class MoCo(nn.Module):
    def __init__(self, backbone, dim):
        super().__init__()
        self.backbone = backbone
        self.projection_head = MoCoProjectionHead(dim, dim, 128)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def forward(self, x):
        query = self.backbone(x).flatten(start_dim=1)
        return self.projection_head(query)

    def forward_momentum(self, x):
        key = self.backbone_momentum(x).flatten(start_dim=1)
        return self.projection_head_momentum(key).detach()


def backbone(arch):
    "torchvision's network with the small-image stem, up to the representation (smallssl's `create_encoder(arch, stem='small')` without `fc`)."
    if arch == 'resnet18':
        resnet = torchvision.models.resnet18()
        resnet.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # 3x3 stride-1 stem, no max-pool
        nn.init.kaiming_normal_(resnet.conv1.weight, mode='fan_out', nonlinearity='relu')
        resnet.maxpool = nn.Identity()
        return nn.Sequential(*list(resnet.children())[:-1]), 512
    if arch == 'mobilenetv3_small':
        net = torchvision.models.mobilenet_v3_small()
        net.features[0][0].stride = (1, 1)  # stride-1 stem
        return nn.Sequential(net.features, net.avgpool, nn.Flatten(1), *net.classifier[:-1]), 1024
    raise SystemExit(f"-a {arch}: this script knows resnet18 and mobilenetv3_small")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('data', help='an image folder (class sub-folders)')
    p.add_argument('-a', '--arch', default='mobilenetv3_small')
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--image-size', type=int, default=32)
    p.add_argument('-b', '--batch-size', type=int, default=64)
    p.add_argument('-j', '--workers', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net, dim = backbone(a.arch)
    model = MoCo(net, dim)
    n_params = sum(p.numel() for p in list(model.backbone.parameters()) + list(model.projection_head.parameters()))
    print(json.dumps(dict(arch=a.arch, encoder_params=n_params, lightly=__import__('lightly').__version__)), flush=True)
    s = a.image_size / 224
    transform = MoCoV2Transform(input_size=a.image_size, sigmas=(0.1 * s, 2. * s))
    dataset = LightlyDataset(a.data, transform=transform)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=a.batch_size, shuffle=True, drop_last=True, num_workers=a.workers)
    criterion = NTXentLoss(temperature=0.1, memory_bank_size=(1024, 128))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    for epoch in range(a.epochs):
        for g in optimizer.param_groups: g['lr'] = 0.03 * 0.5 * (1. + math.cos(math.pi * epoch / a.epochs))
        total_loss, t0 = 0, time.perf_counter()
        for batch in dataloader:
            x_query, x_key = batch[0]
            update_momentum(model.backbone, model.backbone_momentum, m=0.99)
            update_momentum(model.projection_head, model.projection_head_momentum, m=0.99)
            query = model(x_query)
            key = model.forward_momentum(x_key)
            loss = criterion(query, key)
            total_loss += loss.detach()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        elapsed = time.perf_counter() - t0
        print(json.dumps(dict(epoch=epoch, time=elapsed, loss=float(total_loss / len(dataloader)), img_per_s=len(dataloader) * a.batch_size / elapsed)), flush=True)


if __name__ == '__main__': main()
