#!/usr/bin/env python3
"""Captum's LRP on the small conv net hans's tests/explain/lrp_captum_test.ts writes out, as a reference.

Usage: PYTHONPATH=/work/shared/peer /usr/bin/python3 tests/reference/lrp_captum.py DIR

Reads DIR/net.json (weights in TF.js layouts, images NHWC, targets) and writes DIR/captum.json with Captum's
relevance (NHWC, flat) for each rule set: "epsilon" (Captum's EpsilonRule, stabilizer 1e-9, on every layer)
and "alpha1beta0" (Alpha1_Beta0_Rule(set_bias_to_zero=True) on every conv and linear layer, EpsilonRule on max
pooling, as Captum's default). The net: conv 3x3 same -> ReLU -> maxpool 2x2 -> conv 3x3 valid -> ReLU ->
flatten (in NHWC order, as TF.js) -> dense.
"""
import json
import sys

import torch
from torch import nn
from captum.attr import LRP
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        c1, c2 = spec["conv1"], spec["conv2"]
        self.conv1 = nn.Conv2d(c1["in"], c1["out"], c1["size"], padding=c1["size"] // 2)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c2["in"], c2["out"], c2["size"])
        self.relu2 = nn.ReLU()
        d = spec["dense"]
        self.fc = nn.Linear(d["in"], d["out"])
        with torch.no_grad():
            for conv, w in ((self.conv1, c1), (self.conv2, c2)):
                k = torch.tensor(w["kernel"]).reshape(w["size"], w["size"], w["in"], w["out"])
                conv.weight.copy_(k.permute(3, 2, 0, 1))  # [kh,kw,in,out] -> [out,in,kh,kw]
                conv.bias.copy_(torch.tensor(w["bias"]))
            self.fc.weight.copy_(torch.tensor(d["kernel"]).reshape(d["in"], d["out"]).t())
            self.fc.bias.copy_(torch.tensor(d["bias"]))

    def forward(self, x):
        h = self.pool(self.relu1(self.conv1(x)))
        h = self.relu2(self.conv2(h))
        return self.fc(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1))  # flatten in NHWC order


def relevance(spec, rules):
    net = Net(spec).eval()
    if rules == "alpha1beta0":
        for layer in (net.conv1, net.conv2, net.fc):
            layer.rule = Alpha1_Beta0_Rule(set_bias_to_zero=True)
    else:
        for layer in (net.conv1, net.conv2, net.fc, net.pool):
            layer.rule = EpsilonRule(epsilon=1e-9)
    n, h, w, c = spec["shape"]
    x = torch.tensor(spec["images"]).reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()
    r = LRP(net).attribute(x, target=torch.tensor(spec["targets"]))
    return r.permute(0, 2, 3, 1).reshape(-1).tolist()


def main():
    folder = sys.argv[1]
    with open(f"{folder}/net.json") as f:
        spec = json.load(f)
    torch.set_default_dtype(torch.float32)
    out = {rules: relevance(spec, rules) for rules in ("epsilon", "alpha1beta0")}
    with open(f"{folder}/captum.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
