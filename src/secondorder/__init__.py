"""Second-order optimizers for deep networks, and the study pipeline that compares them.

Library entry points: :mod:`secondorder.models` (LeNet5, AlexNet, ResNet-18),
:mod:`secondorder.curvature` (the loss as a function of the parameters, with Hessian- and
Gauss-Newton-vector products), :mod:`secondorder.optim` (SGD, SHG, SQN, L-SR1, ...).
"""

__version__ = "0.1.0"
