--[[ 07_toxic_text.lua: toxic vs non-toxic tweets (Davidson et al.) with a bag-of-embeddings classifier,
then its accuracy per identity-term subgroup on the out-of-domain madlibs (the start of a bias audit).
Run:  .build/release/lucerna run examples/07_toxic_text.lua [--set tokens=char_ngrams] ]]

local config = lucerna.config{epochs = 4, batch = 128, dim = 64, tokens = "words", seed = 0}
lucerna.manual_seed(config.seed ~= 0 and config.seed or run.seed)   -- seed 0: the run's (--seed, --seeds)
local encoding = {tokens = config.tokens, seed = config.seed}
local train = data.toxic_text(lucerna.merge(encoding, {split = "train"}))
local test = data.toxic_text(lucerna.merge(encoding, {split = "test"}))
local madlibs = data.identity_madlibs(encoding)
print(("%d training tweets, %d test tweets, %d token ids"):format(train.labels:numel(), test.labels:numel(), train.vocabulary_size))

local embedding = nn.Embedding(train.vocabulary_size, config.dim)
local head = nn.Linear(config.dim, 2)
local function forward(batch)
   -- Mean of the token embeddings, ignoring padding (id 0).
   local mask = batch.tokens:float():gt(0):unsqueeze(-1)
   local summed = (embedding(batch.tokens) * mask):sum(2)
   return head(summed / (batch.lengths:float():unsqueeze(-1) + 1e-6))
end
local params = embedding:parameters()
for _, p in ipairs(head:parameters()) do params[#params + 1] = p end
local opt = optim.adamw{params = params, lr = 3e-3}

local function accuracy_of(set)
   local metric = metrics.accuracy{}
   no_grad(function() for batch in data.loader{set, batch = 1000} do metric:update(forward(batch), batch.labels) end end)
   return metric:compute()
end

for epoch = 1, config.epochs do
   local total, count = 0, 0
   for batch in data.loader{train, batch = config.batch, shuffle = true} do
      opt:zero_grad()
      local loss = losses.cross_entropy(forward(batch), batch.labels)
      loss:backward()
      opt:step()
      total, count = total + loss:item(), count + 1
   end
   local test_accuracy = accuracy_of(test)
   run.log{epoch = epoch, train_loss = total / count, test_accuracy = test_accuracy}
   print(("epoch %d  loss %.4f  test_acc %.4f"):format(epoch, total / count, test_accuracy))
end

-- Accuracy on the madlibs, per identity term (issue 5 adds the fairness metrics proper).
local worst, best = {1, ""}, {0, ""}
for group, name in ipairs(madlibs.group_names) do
   local positions = {}
   for i, g in ipairs(madlibs.groups:totable()) do if g == group - 1 then positions[#positions + 1] = i end end
   local subset = {tokens = madlibs.tokens:index_select(1, positions), lengths = madlibs.lengths:index_select(1, positions),
                   labels = madlibs.labels:index_select(1, positions)}
   local value = accuracy_of(subset)
   if value < worst[1] then worst = {value, name} end
   if value > best[1] then best = {value, name} end
end
print(("madlibs accuracy by identity term: worst %.3f (%s), best %.3f (%s)"):format(worst[1], worst[2], best[1], best[2]))
local wiki = data.wiki_toxicity(encoding)
local wiki_accuracy = accuracy_of(wiki)
print(("Wikipedia toxicity test set (out of domain): accuracy %.3f on %d comments"):format(wiki_accuracy, wiki.labels:numel()))
run.log{wiki_accuracy = wiki_accuracy}
run.log{madlibs_worst_group = worst[2], madlibs_worst_accuracy = worst[1], madlibs_best_group = best[2], madlibs_best_accuracy = best[1]}
