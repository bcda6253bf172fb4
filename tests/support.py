"""Helpers shared by the tests in this folder and by the chapters' test cells (which import it from ../tests)."""
import configparser, contextlib, io
from pathlib import Path

import numpy as np
from PIL import Image


def console_scripts()->dict:
    "Console script -> (module, function), as settings.ini declares them (the one list; setup.py reads the same)."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(Path(__file__).resolve().parents[1]/'settings.ini')
    lines = [l.strip() for l in cfg['DEFAULT']['console_scripts'].splitlines() if l.strip()]
    return {name.strip(): tuple(target.strip().split(':')) for name, target in (l.split('=') for l in lines)}


def run_main(fn, argv:list)->tuple:
    "Call a command's entry point (`main`, a parser's `parse_args`, ...) on `argv`; returns (exit status, stdout, stderr)."
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: fn(argv)
        except SystemExit as e: code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def image_folder(root, # where to write (created)
                 splits=('train', 'val'), # one sub-folder per split; () for a single <root>/<class>/<image> folder
                 n=8, # images per class and split (an int, or one int per split)
                 size=40, # image height in pixels (the width is `size + 8`: not square, so crops matter)
                 classes=('red', 'green', 'blue'), # class folder names; class i is the one whose colour channel i % 3 dominates
                 seed=0, # the noise
                 ext='.png', # image format by file suffix ('.jpg' for a lossy one)
                )->Path:
    "A tiny ImageFolder of noisy images whose dominant colour channel gives the class; files are named im00, im01, ..."
    rng, root = np.random.default_rng(seed), Path(root)
    counts = [n] * max(1, len(splits)) if isinstance(n, int) else list(n)
    for split, count in zip(splits or [''], counts):
        for c, name in enumerate(classes):
            d = root/split/name; d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                a = rng.integers(0, 70, (size, size + 8, 3)); a[..., c % 3] += 180
                Image.fromarray(a.astype(np.uint8)).save(d/f"im{i:02d}{ext}")
    return root


# ---- checkpoints as other self-supervised codebases write them (the pretrained chapter's layouts, tests/test_interop.py) ----
# Each writer below follows the saving code of the codebase it names (key names, nesting, extra entries), read from its
# repository: MoCo v1/v2 and v3 `main_moco.py` (`save_checkpoint({'epoch', 'arch', 'state_dict': model.state_dict(),
# 'optimizer', ...})` of a DDP-wrapped model), DINO `main_dino.py` (`save_dict = {'student', 'teacher', 'optimizer', 'epoch',
# 'args', 'dino_loss'}`; the teacher is DDP-wrapped only when the network has BatchNorm), solo-learn `BaseMomentumMethod`
# (`backbone` with `fc = Identity`, `momentum_backbone`, `classifier`, `projector`, ...; saved by Lightning's
# `trainer.save_checkpoint`), lightly's examples (`nn.Sequential(*list(resnet18().children())[:-1])` as `backbone`,
# `MoCoProjectionHead` as `projection_head`, their momentum copies; the clothing tutorial's
# `{"resnet18_parameters": backbone.state_dict()}`).
import argparse, copy


def _sd(module, prefix=''):
    return {prefix + k: v.detach().clone() for k, v in module.state_dict().items()}


def _mocov3_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
    "MoCo v3's (and solo-learn's) `_build_mlp`: Linear without bias, BatchNorm1d, ReLU; a last BatchNorm1d without affine."
    import torch.nn as nn
    mlp = []
    for l in range(num_layers):
        dim1, dim2 = input_dim if l == 0 else mlp_dim, output_dim if l == num_layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        if l < num_layers - 1: mlp += [nn.BatchNorm1d(dim2), nn.ReLU(inplace=True)]
        elif last_bn: mlp.append(nn.BatchNorm1d(dim2, affine=False))
    return nn.Sequential(*mlp)


def _dino_head(in_dim, out_dim=64, hidden_dim=32, bottleneck_dim=16):
    "DINOHead's tensors (`mlp.0/2/4`, weight-normed `last_layer.weight_g/_v`), for `use_bn_in_head=False`."
    import torch, torch.nn as nn
    mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                        nn.Linear(hidden_dim, bottleneck_dim))
    return {**_sd(mlp, 'mlp.'), 'last_layer.weight_g': torch.ones(out_dim, 1), 'last_layer.weight_v': torch.randn(out_dim, bottleneck_dim)}


def _optimizer_state(params):
    import torch
    opt = torch.optim.SGD([p for p in params], lr=0.03, momentum=0.9)
    return opt.state_dict()


def _lightning(state_dict, params):
    "The entries `trainer.save_checkpoint` writes (Lightning 2.x), around `state_dict`."
    import torch
    return {'epoch': 1, 'global_step': 2, 'pytorch-lightning_version': '2.1.2', 'state_dict': state_dict,
            'loops': {'fit_loop': {'state_dict': {}, 'epoch_progress': {'total': {'ready': 1, 'completed': 1}}}},
            'callbacks': {"ModelCheckpoint{'monitor': None, 'mode': 'min'}": {'monitor': None, 'best_model_score': None,
                          'dirpath': 'checkpoints', 'kth_value': torch.tensor(float('inf')), 'last_model_path': ''}},
            'optimizer_states': [_optimizer_state(params)], 'lr_schedulers': []}


def write_resnet_layouts(root, # folder to write into (created)
                         net, # a torchvision ResNet whose `fc` is the head: the weights every file holds
                         student, # a second ResNet of the same shape: DINO's student (the teacher is `net`)
                        )->dict:
    "Save `net`'s encoder in each codebase's layout; returns {layout name: path}. Every file holds the same encoder weights."
    import torch, torch.nn as nn
    root = Path(root); root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    dim = net.fc.in_features
    backbone = copy.deepcopy(net); backbone.fc = nn.Identity()            # solo-learn, DINO: fc replaced by Identity
    clf = copy.deepcopy(net); clf.fc = nn.Linear(dim, 1000)                # a torchvision / timm classifier
    lightly_backbone = nn.Sequential(*list(copy.deepcopy(net).children())[:-1])   # lightly's examples
    moco = copy.deepcopy(net); moco.fc = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 128))  # MoCo v2 head
    files = {
        'torchvision': clf.state_dict(),
        'torch.hub model': {'model': clf.state_dict()},
        'moco-v2': {'epoch': 200, 'arch': 'resnet18', 'optimizer': _optimizer_state(moco.parameters()),
                    'state_dict': {**_sd(moco, 'module.encoder_q.'), **_sd(moco, 'module.encoder_k.'),
                                   'module.queue': nn.functional.normalize(torch.randn(128, 64), dim=0),
                                   'module.queue_ptr': torch.zeros(1, dtype=torch.long)}},
        'smallssl': {'epoch': 3, 'arch': 'resnet18', 'optimizer': _optimizer_state(moco.parameters()), 'scaler': None,
                     'args': {'arch': 'resnet18', 'lr': 0.06, 'schedule': [120, 160], 'image_size': 224, 'stem': 'imagenet'},
                     'state_dict': {**_sd(moco, 'module.encoder_q.'), **_sd(moco, 'module.encoder_k.'),
                                    'module.queue': torch.randn(128, 64), 'module.queue_ptr': torch.zeros(1, dtype=torch.long)}},
        'seed': {'epoch': 200, 'arch': 'resnet18',
                 'state_dict': {**_sd(moco, 'module.student.'), **_sd(student, 'module.teacher.'),
                                'module.queue': torch.randn(128, 64), 'module.queue_ptr': torch.zeros(1, dtype=torch.long)}},
        'lightly backbone': lightly_backbone.state_dict(),
        'lightly tutorial': {'resnet18_parameters': lightly_backbone.state_dict()},
    }
    proj = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 128))   # MoCoProjectionHead's `layers`
    files['lightly Lightning'] = _lightning({**_sd(lightly_backbone, 'backbone.'), **_sd(proj, 'projection_head.layers.'),
                                             **_sd(lightly_backbone, 'backbone_momentum.'),
                                             **_sd(proj, 'projection_head_momentum.layers.')}, proj.parameters())
    projector, predictor = _mocov3_mlp(2, dim, 64, 32), _mocov3_mlp(2, 32, 64, 32, last_bn=False)
    files['solo-learn'] = _lightning({**_sd(backbone, 'backbone.'), **_sd(nn.Linear(dim, 10), 'classifier.'),
                                      **_sd(backbone, 'momentum_backbone.'), **_sd(projector, 'projector.'),
                                      **_sd(projector, 'momentum_projector.'), **_sd(predictor, 'predictor.')},
                                     backbone.parameters())
    v3 = copy.deepcopy(net); v3.fc = _mocov3_mlp(2, dim, 64, 32)               # MoCo_ResNet: fc becomes the projector
    files['moco-v3'] = {'epoch': 100, 'arch': 'resnet18', 'optimizer': _optimizer_state(v3.parameters()),
                        'scaler': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5, 'growth_interval': 2000, '_growth_tracker': 0},
                        'state_dict': {**_sd(v3, 'module.base_encoder.'), **_sd(v3, 'module.momentum_encoder.'),
                                       **_sd(predictor, 'module.predictor.')}}
    s_backbone = copy.deepcopy(student); s_backbone.fc = nn.Identity()
    head = _dino_head(dim)
    files['dino'] = {   # ResNets have BatchNorm: DINO wraps the teacher in DDP too, hence module.backbone.* on both sides
        'student': {**_sd(s_backbone, 'module.backbone.'), **{f'module.head.{k}': v for k, v in head.items()}},
        'teacher': {**_sd(backbone, 'module.backbone.'), **{f'module.head.{k}': v.clone() for k, v in head.items()}},
        'optimizer': _optimizer_state(s_backbone.parameters()), 'epoch': 100,
        'args': argparse.Namespace(arch='resnet18', patch_size=16, out_dim=64, norm_last_layer=True, momentum_teacher=0.996,
                                   use_bn_in_head=False, lr=0.0005, epochs=100, output_dir='.', data_path='imagenet/train'),
        'dino_loss': {'center': torch.zeros(1, 64)}}
    out = {}
    for name, obj in files.items():
        out[name] = root/f"{name.replace(' ', '_')}.pth"
        torch.save(obj, out[name])
    return out


def timm_vit_state(vit)->dict:
    "The state dict of a torchvision `VisionTransformer` (smallssl's `vit_tiny`) under timm's names (`cls_token`, `blocks.N.attn.qkv`, ...)."
    sd, out = vit.state_dict(), {}
    out['cls_token'], out['pos_embed'] = sd['class_token'], sd['encoder.pos_embedding']
    out['patch_embed.proj.weight'], out['patch_embed.proj.bias'] = sd['conv_proj.weight'], sd['conv_proj.bias']
    n = len([k for k in sd if k.endswith('.ln_1.weight')])
    for i in range(n):
        t = f'encoder.layers.encoder_layer_{i}.'
        for w in ('weight', 'bias'):
            out[f'blocks.{i}.norm1.{w}'] = sd[t + f'ln_1.{w}']
            out[f'blocks.{i}.attn.qkv.{w}'] = sd[t + f'self_attention.in_proj_{w}']
            out[f'blocks.{i}.attn.proj.{w}'] = sd[t + f'self_attention.out_proj.{w}']
            out[f'blocks.{i}.norm2.{w}'] = sd[t + f'ln_2.{w}']
            out[f'blocks.{i}.mlp.fc1.{w}'] = sd[t + f'mlp.0.{w}']
            out[f'blocks.{i}.mlp.fc2.{w}'] = sd[t + f'mlp.3.{w}']
    out['norm.weight'], out['norm.bias'] = sd['encoder.ln.weight'], sd['encoder.ln.bias']
    assert len(out) == len([k for k in sd if not k.startswith('fc.')]), 'a tensor of the ViT has no timm name here'
    return {k: v.detach().clone() for k, v in out.items()}


def write_vit_layouts(root, # folder to write into (created)
                      vit, # smallssl's `vit_tiny` (a torchvision VisionTransformer; its head `fc` is not saved): the weights every file holds
                      student, # a second one: DINO's student
                     )->dict:
    "Save `vit` as MoCo v3, DINO and DeiT/timm write a timm-style ViT; returns {layout name: path}."
    import torch
    root = Path(root); root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    dim = vit.hidden_dim
    timm, head = timm_vit_state(vit), _mocov3_mlp(3, dim, 64, 32)              # MoCo_ViT: head becomes a 3-layer projector
    predictor = _mocov3_mlp(2, 32, 64, 32)
    dino_head = _dino_head(dim)
    files = {
        'moco-v3 vit': {'epoch': 300, 'arch': 'vit_tiny', 'optimizer': {'state': {}, 'param_groups': []},
                        'scaler': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5, 'growth_interval': 2000, '_growth_tracker': 0},
                        'state_dict': {**{f'module.base_encoder.{k}': v for k, v in timm.items()}, **_sd(head, 'module.base_encoder.head.'),
                                       **{f'module.momentum_encoder.{k}': v.clone() for k, v in timm.items()},
                                       **_sd(head, 'module.momentum_encoder.head.'), **_sd(predictor, 'module.predictor.')}},
        'dino vit': {   # no BatchNorm in a ViT: only the student is DDP-wrapped
            'student': {**{f'module.backbone.{k}': v for k, v in timm_vit_state(student).items()},
                        **{f'module.head.{k}': v for k, v in dino_head.items()}},
            'teacher': {**{f'backbone.{k}': v.clone() for k, v in timm.items()}, **{f'head.{k}': v.clone() for k, v in dino_head.items()}},
            'optimizer': {'state': {}, 'param_groups': []}, 'epoch': 100, 'dino_loss': {'center': torch.zeros(1, 64)},
            'args': argparse.Namespace(arch='vit_tiny', patch_size=16, out_dim=64, lr=0.0005, output_dir='.')},
        'deit': {'model': {**timm, 'head.weight': torch.randn(1000, dim), 'head.bias': torch.zeros(1000)}},  # timm/DeiT release files
    }
    out = {}
    for name, obj in files.items():
        out[name] = root/f"{name.replace(' ', '_')}.pth"
        torch.save(obj, out[name])
    return out
