--[[ 02_fashion_cnn.lua: the benchmark CNN on Fashion-MNIST, written as a recipe.
Run: .build/release/lucerna run examples/02_fashion_cnn.lua
AdamW (lr 1e-3, weight decay 1e-2) with cosine annealing over the epochs, mini-batches of 64. ]]

local config = {epochs = 5, batch = 64, lr = 1e-3, weight_decay = 1e-2, limit = nil, seed = 1}

lucerna.manual_seed(config.seed)
local train = data.fashion_mnist{split = "train", limit = config.limit}
local test = data.fashion_mnist{split = "test"}
local model = models.cnn{}
local opt = optim.adamw{params = model:parameters(), lr = config.lr, weight_decay = config.weight_decay}
local schedule = schedules.cosine{optimizer = opt, t_max = config.epochs}
print(("%s; %d training images"):format(tostring(model), train.labels:numel()))

local function accuracy(set)
   model:eval()
   local correct, n = 0, set.labels:numel()
   no_grad(function()
      for start = 1, n, 1000 do
         local length = math.min(1000, n - start + 1)
         local predicted = model(set.images:narrow(1, start, length)):argmax(2)
         local truth = set.labels:narrow(1, start, length):float() + 1
         correct = correct + predicted:eq(truth):sum():item()
      end
   end)
   model:train()
   return correct / n
end

for epoch = 1, config.epochs do
   local order = tensor.randperm(train.labels:numel())
   local total, batches = 0, 0
   local clock = os.clock()
   for start = 1, train.labels:numel() - config.batch + 1, config.batch do
      local indices = order:narrow(1, start, config.batch)
      local images = train.images:index_select(1, indices)
      local labels = train.labels:index_select(1, indices)
      opt:zero_grad()
      local loss = losses.cross_entropy(model(images), labels)
      loss:backward()
      opt:step()
      total, batches = total + loss:item(), batches + 1
   end
   print(("epoch %d  lr %.2e  loss %.4f  test_acc %.4f  (%.1f s CPU)"):format(
      epoch, schedule:lr(), total / batches, accuracy(test), os.clock() - clock))
   schedule:step()
end
