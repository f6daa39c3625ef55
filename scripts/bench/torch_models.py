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


class SelfAttention(nn.Module):
    """SAGAN's Self_Attn (Zhang et al. 2019, the reference code), with the names Lucerna uses."""

    def __init__(self, channels):
        super().__init__()
        self.query = nn.Conv2d(channels, channels // 8, 1)
        self.key = nn.Conv2d(channels, channels // 8, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        batch, channels, height, width = x.shape
        query = self.query(x).view(batch, -1, height * width).permute(0, 2, 1)
        key = self.key(x).view(batch, -1, height * width)
        attention = torch.softmax(torch.bmm(query, key), dim=-1)
        value = self.value(x).view(batch, -1, height * width)
        out = torch.bmm(value, attention.permute(0, 2, 1)).view(batch, channels, height, width)
        return self.gamma * out + x, attention


class AttentionGenerator(nn.Module):
    """`models.cgan_generator{}` at its defaults: noise (128) joined to a 32-wide label embedding, Linear to
    128·7·7, BatchNorm, ReLU, ConvTranspose to 64 at 14×14, BatchNorm, ReLU, self-attention, ConvTranspose to
    1 at 28×28, tanh."""

    def __init__(self, latent=128, classes=10, embedding=32, channels=(128, 64)):
        super().__init__()
        self.channels = channels
        self.condition = nn.Embedding(classes, embedding)
        self.projection = nn.Linear(latent + embedding, channels[0] * 49)
        self.norm0 = nn.BatchNorm2d(channels[0])
        self.up1 = nn.ConvTranspose2d(channels[0], channels[1], 4, 2, 1)
        self.norm1 = nn.BatchNorm2d(channels[1])
        self.attention = SelfAttention(channels[1])
        self.up2 = nn.ConvTranspose2d(channels[1], 1, 4, 2, 1)

    def forward(self, z, y):
        h = self.projection(torch.cat([z, self.condition(y)], 1)).view(-1, self.channels[0], 7, 7)
        h = F.relu(self.norm1(self.up1(F.relu(self.norm0(h)))))
        return torch.tanh(self.up2(self.attention(h)[0]))


class AttentionCritic(nn.Module):
    """`models.cgan_critic{}` at its defaults: Conv to 64 at 14×14, LeakyReLU(0.2), self-attention, Conv to 128
    at 7×7, LeakyReLU(0.2), a linear score plus the projection embed(y)ᵀφ (Miyato & Koyama)."""

    def __init__(self, classes=10, channels=(64, 128)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 4, 2, 1)
        self.attention = SelfAttention(channels[0])
        self.conv2 = nn.Conv2d(channels[0], channels[1], 4, 2, 1)
        self.score = nn.Linear(channels[1] * 49, 1)
        self.label_embedding = nn.Embedding(classes, channels[1] * 49)

    def forward(self, x, y):
        h = self.attention(F.leaky_relu(self.conv1(x), 0.2))[0]
        features = F.leaky_relu(self.conv2(h), 0.2).flatten(1)
        return self.score(features).view(-1) + (self.label_embedding(y) * features).sum(1)
