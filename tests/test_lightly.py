"""A real lightly checkpoint loads into smallssl, and computes what lightly's backbone computed.

lightly's own example (`examples/pytorch_lightning/moco.py`: a torchvision ResNet-18 as
`nn.Sequential(*list(resnet.children())[:-1])`, lightly's `MoCoProjectionHead`, `NTXentLoss` with a memory bank,
`update_momentum`) trains two steps with PyTorch Lightning in a throwaway environment, then saves what users save: the
Lightning checkpoint (`trainer.save_checkpoint`) and the backbone alone (`torch.save(model.backbone.state_dict())`), with the
backbone's features of a fixed batch. smallssl reads both files here, without lightly (it is not a requirement and never
imported by smallssl), and must compute the same features.

The environment is a virtual environment in a temporary folder that sees this interpreter's packages (torch among them)
through a `.pth` file, so pip installs only lightly and what it adds (`pip install lightly torch==X torchvision==Y`, pinned
to this torch so that nothing large is fetched). The test is skipped, with the reason, when that cannot be done (no package
registry). About a minute on 2 CPU cores; marked `slow` (deselect with `pytest -m "not slow"`)."""
import os, subprocess, sys, sysconfig, textwrap
from pathlib import Path

import pytest, torch, torchvision

from smallssl.pretrained import load_pretrained_encoder

pytestmark = pytest.mark.slow

LIGHTLY_MOCO = textwrap.dedent('''
    import copy, sys
    from pathlib import Path
    import pytorch_lightning as pl, torch, torchvision, lightly
    from torch import nn
    from lightly.loss import NTXentLoss
    from lightly.models.modules import MoCoProjectionHead
    from lightly.models.utils import deactivate_requires_grad, update_momentum
    from lightly.utils.scheduler import cosine_schedule

    class MoCo(pl.LightningModule):   # lightly's examples/pytorch_lightning/moco.py, as it is
        def __init__(self):
            super().__init__()
            resnet = torchvision.models.resnet18()
            self.backbone = nn.Sequential(*list(resnet.children())[:-1])
            self.projection_head = MoCoProjectionHead(512, 512, 128)
            self.backbone_momentum = copy.deepcopy(self.backbone)
            self.projection_head_momentum = copy.deepcopy(self.projection_head)
            deactivate_requires_grad(self.backbone_momentum)
            deactivate_requires_grad(self.projection_head_momentum)
            self.criterion = NTXentLoss(memory_bank_size=(4096, 128))
        def forward(self, x):
            return self.projection_head(self.backbone(x).flatten(start_dim=1))
        def forward_momentum(self, x):
            return self.projection_head_momentum(self.backbone_momentum(x).flatten(start_dim=1)).detach()
        def training_step(self, batch, batch_idx):
            momentum = cosine_schedule(self.current_epoch, 10, 0.996, 1)
            update_momentum(self.backbone, self.backbone_momentum, m=momentum)
            update_momentum(self.projection_head, self.projection_head_momentum, m=momentum)
            x_query, x_key = batch[0]
            return self.criterion(self.forward(x_query), self.forward_momentum(x_key))
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.06)

    class TwoViews(torch.utils.data.Dataset):   # what LightlyDataset with MoCoV2Transform yields: ((view, view), label, name)
        def __init__(self): self.x = torch.randn(16, 2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        def __len__(self): return len(self.x)
        def __getitem__(self, i): return (self.x[i, 0], self.x[i, 1]), 0, f"im{i}"

    out = Path(sys.argv[1])
    torch.manual_seed(0)
    model = MoCo()
    trainer = pl.Trainer(max_epochs=1, devices=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(out))
    trainer.fit(model=model, train_dataloaders=torch.utils.data.DataLoader(TwoViews(), batch_size=8, drop_last=True))
    trainer.save_checkpoint(out/"lightly.ckpt")
    torch.save(model.backbone.state_dict(), out/"backbone.pth")
    model.eval()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(): torch.save({"x": x, "features": model.backbone(x).flatten(start_dim=1)}, out/"features.pt")
    print("lightly", lightly.__version__, "pytorch_lightning", pl.__version__)
''')


@pytest.fixture(scope='module')
def lightly_files(tmp_path_factory):
    "Run lightly's example in a throwaway environment; the folder with its files."
    root = tmp_path_factory.mktemp('lightly')
    env = root/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(env)], check=True, capture_output=True)
    py = env/'bin'/'python'
    site = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], check=True,
                          capture_output=True, text=True).stdout.strip()
    Path(site, 'outer-packages.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')   # this interpreter's torch & co.
    pins = [f"torch=={torch.__version__.split('+')[0]}", f"torchvision=={torchvision.__version__.split('+')[0]}"]
    try: p = subprocess.run([str(py), '-m', 'pip', 'install', '-q', 'lightly', *pins], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired: pytest.skip("installing lightly took more than 15 minutes")
    if p.returncode: pytest.skip(f"could not install lightly into a throwaway environment: {p.stderr.strip()[-300:]}")
    (root/'moco.py').write_text(LIGHTLY_MOCO)
    p = subprocess.run([str(py), str(root/'moco.py'), str(root)], capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=''))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    print(p.stdout.strip().splitlines()[-1])
    return root


@pytest.mark.parametrize('name,layout', [('lightly.ckpt', 'lightly Lightning checkpoint, backbone.*'),
                                         ('backbone.pth', 'lightly backbone state_dict, *')])
def test_real_lightly_checkpoint(lightly_files, name, layout, capsys):
    ref = torch.load(lightly_files/'features.pt', weights_only=True)
    enc = load_pretrained_encoder('resnet18', lightly_files/name, image_size=64)
    out = capsys.readouterr().out
    assert layout in out and '120 tensors used, missing none' in out, out
    with torch.no_grad(): torch.testing.assert_close(enc(ref['x']), ref['features'])
