--[[ 02_fashion_cnn.lua: the benchmark CNN on Fashion-MNIST, the README's main job.
Run:  .build/release/lucerna run examples/02_fashion_cnn.lua [--set epochs=2 --set limit=6000]
      --set model=mlp trains the MLP 784-256-128-10 instead of the CNN (any registered model name works);
      --set dataset=mnist trains on MNIST (from --data or LUCERNA_DATA) instead of Fashion-MNIST.
AdamW (lr 1e-3, weight decay 1e-2) with cosine annealing over the epochs, mini-batches of 64.
Writes config.json, metrics.jsonl (one line per epoch), checkpoints/final.safetensors and report.md to the
run folder. ]]

local config = lucerna.config{
   epochs = 5, batch = 64, limit = 0,                -- limit > 0 trains on the first `limit` images only
   optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2},
   schedule = "cosine",
   model = "cnn", dataset = "fashion_mnist",
}

local train = data[config.dataset]{split = "train", limit = config.limit > 0 and config.limit or nil}
local test = data[config.dataset]{split = "test"}
local model = models[config.model]{}
local opt = optim(lucerna.merge(config.optimizer, {params = model:parameters()}))
local schedule = schedules{type = config.schedule, optimizer = opt, t_max = config.epochs}
local accuracy = metrics.accuracy{}
local n = train.labels:numel()
print(("%s; %d training images"):format(tostring(model), n))

local function evaluate(set)
   model:eval()
   accuracy:reset()
   no_grad(function()
      for start = 1, set.labels:numel(), 1000 do
         local length = math.min(1000, set.labels:numel() - start + 1)
         accuracy:update(model(set.images:narrow(1, start, length)), set.labels:narrow(1, start, length))
      end
   end)
   model:train()
   return accuracy:compute()
end

local started = os.time()
for epoch = 1, config.epochs do
   local order = tensor.randperm(n)
   local total, batches = 0, 0
   local clock = os.clock()
   for start = 1, n - config.batch + 1, config.batch do
      local indices = order:narrow(1, start, config.batch)
      opt:zero_grad()
      local loss = losses.cross_entropy(model(train.images:index_select(1, indices)), train.labels:index_select(1, indices))
      loss:backward()
      opt:step()
      total, batches = total + loss:item(), batches + 1
   end
   local test_accuracy = evaluate(test)
   run.log{epoch = epoch, lr = schedule:lr(), train_loss = total / batches, test_accuracy = test_accuracy}
   print(("epoch %d  lr %.2e  loss %.4f  test_acc %.4f  (%.1f s CPU)"):format(
      epoch, schedule:lr(), total / batches, test_accuracy, os.clock() - clock))
   schedule:step()
end
run.save("final", model)
print(("done in %d s wall time"):format(os.time() - started))
