"""PyTorch equivalents of Lucerna's models, shared by the benchmark and golden scripts."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class CNN(nn.Module):
    """Lucerna's `cnn`: the same module names, layouts and (by default) sizes."""

    def __init__(self, channels=(32, 64), hidden=128, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 3, padding=1)
        self.relu1, self.pool1 = nn.ReLU(), nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.relu2, self.pool2 = nn.ReLU(), nn.MaxPool2d(2)
        self.fc1 = nn.Linear(channels[1] * 49, hidden)
        self.relu3, self.fc2 = nn.ReLU(), nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_embedding = nn.Embedding(10, 10)
        self.projection = nn.Linear(74, 128 * 7 * 7)
        self.upsample1 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.upsample2 = nn.ConvTranspose2d(64, 1, 4, 2, 1)

    def forward(self, z, y):
        h = F.relu(self.projection(torch.cat([z, self.label_embedding(y)], 1))).view(-1, 128, 7, 7)
        return torch.tanh(self.upsample2(F.relu(self.upsample1(h))))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_embedding = nn.Embedding(10, 784)
        self.conv1 = nn.Conv2d(2, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1)
        self.score = nn.Linear(6272, 1)

    def forward(self, x, y):
        h = torch.cat([x, self.label_embedding(y).view(-1, 1, 28, 28)], 1)
        h = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(h), 0.2)), 0.2)
        return self.score(h.flatten(1)).view(-1)
