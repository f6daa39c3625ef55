--[[ 07_toxic_text.lua: toxic vs non-toxic tweets (Davidson et al.) with a bag-of-embeddings classifier, trained
with the paper's protocol, then audited per identity term on the Conversation AI madlibs (Borkan et al.'s
subgroup, BPSN and BNSP AUCs and their power-mean summary, plus Fairlearn's parity gaps), and tested out of
domain on Wikipedia comments.
Run:  .build/release/lucerna run examples/07_toxic_text.lua              (3 seeds: summary.json, report.html)
      .build/release/lucerna run examples/07_toxic_text.lua --seed 1     (one seed)
      --set tokens=char_ngrams hashes character trigrams instead of words.
      --set encoder=transformer_encoder (or text_cnn_encoder, embedding_bag_encoder) swaps the bag of
      embeddings for a registered text encoder inside models.multimodal_classifier (one modality, no fusion);
      the Transformer takes --set lr=1e-3.
Protocol: Davidson's tweets split stratified 80/20 into train and test by the run's seed, 20 % of train held out
for validation, AdamW + cosine, early stopping on validation macro F1, the best epoch restored.
Robustness (first `attack_limit` test tweets): embedding-space PGD (per-token L2 ball of `embedding_eps`, 10 steps
of eps/4) and greedy word substitution (TextFooler's search over the 10 nearest tokens of the model's own
embedding table, at most `substitution_budget` tokens per tweet); with a registered encoder it also prints three
substituted tweets. ]]

local config = lucerna.config{seeds = {1, 2, 3}, epochs = 12, batch = 128, dim = 64, tokens = "words", patience = 3, lr = 3e-3,
                              encoder = "bag", layers = 2, heads = 4, attack_limit = 1000, embedding_eps = 1, substitution_budget = 3}
lucerna.manual_seed(run.seed)
local encoding = {tokens = config.tokens, seed = run.seed}
local tweets = data.toxic_text(lucerna.merge(encoding, {split = "train"}))
local test = data.toxic_text(lucerna.merge(encoding, {split = "test"}))
local madlibs = data.identity_madlibs(encoding)
print(("%d training tweets, %d test tweets, %d token ids, %d madlibs sentences over %d identity terms"):format(
   tweets.labels:numel(), test.labels:numel(), tweets.vocabulary_size, madlibs.labels:numel(), #madlibs.group_names))

-- The model: by default the mean of the token embeddings (padding, id 0, left out), then a linear layer;
-- or a registered text encoder and a linear head.
local model, forward
if config.encoder == "bag" then
   model = {embedding = nn.Embedding(tweets.vocabulary_size, config.dim), head = nn.Linear(config.dim, 2)}
   forward = function(batch)
      local mask = batch.tokens:float():gt(0):unsqueeze(-1)
      local summed = (model.embedding(batch.tokens) * mask):sum(2)
      return model.head(summed / (batch.lengths:float():unsqueeze(-1) + 1e-6))
   end
else
   local specs = {
      transformer_encoder = {type = "transformer_encoder", vocabulary = tweets.vocabulary_size, dim = config.dim, heads = config.heads,
                             layers = config.layers, feed_forward = 2 * config.dim, max_length = tweets.tokens:shape()[2]},
      text_cnn_encoder = {type = "text_cnn_encoder", vocabulary = tweets.vocabulary_size, embedding_dim = config.dim},
      embedding_bag_encoder = {type = "embedding_bag_encoder", vocabulary = tweets.vocabulary_size, dim = config.dim},
   }
   assert(specs[config.encoder], "encoder must be bag, transformer_encoder, text_cnn_encoder or embedding_bag_encoder")
   model = models.multimodal_classifier{encoders = {text = specs[config.encoder]}, fusion = false, classes = 2}
   forward = function(batch) return model(batch.tokens) end
   print(("%s: %d parameters"):format(config.encoder, model:parameter_count()))
end

local result = train{
   model = model, forward = forward, data = tweets, validation = 0.2, test = test,
   optimizer = {type = "adamw", lr = config.lr, weight_decay = 1e-2}, schedule = "cosine",
   epochs = config.epochs, batch = config.batch,
   early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
   metrics = {accuracy = "accuracy", f1 = {type = "f1", average = "macro"}, roc_auc = "roc_auc", confusion = "confusion_matrix"},
}
print(("test: accuracy %.4f, macro F1 %.4f, ROC-AUC %.4f (best epoch %d)"):format(
   result.test.accuracy, result.test.f1, result.test.roc_auc, result.best_epoch))

-- The bias audit on the madlibs: one group per identity term.
local audit = evaluate{
   model = model, forward = forward, data = madlibs, name = "madlibs",
   metrics = {accuracy = "accuracy", bias_auc = "bias_auc", worst_group_accuracy = "worst_group_accuracy",
              demographic_parity_difference = "demographic_parity_difference",
              equalized_odds_difference = "equalized_odds_difference"},
}
local report = audit.reports.bias_auc
print(("madlibs: accuracy %.4f, overall AUC %.4f, final bias metric %.4f, worst-group accuracy %.4f, DP gap %.4f, EO gap %.4f"):format(
   audit.accuracy, report.overall_auc, audit.bias_auc, audit.worst_group_accuracy,
   audit.demographic_parity_difference, audit.equalized_odds_difference))
local per_term, record = {}, {phase = "audit"}
for _, group in ipairs(report.groups) do
   local term = madlibs.group_names[group.group + 1]
   per_term[#per_term + 1] = {term = term, subgroup = group.subgroup_auc or 0 / 0, bpsn = group.bpsn_auc or 0 / 0, bnsp = group.bnsp_auc or 0 / 0}
   local key = term:gsub("[^%w]", "_")
   record["subgroup_auc_" .. key], record["bpsn_auc_" .. key], record["bnsp_auc_" .. key] = group.subgroup_auc, group.bpsn_auc, group.bnsp_auc
end
run.log(record)   -- one record: per-term AUCs are averaged over seeds in summary.json
table.sort(per_term, function(a, b) return a.subgroup < b.subgroup end)
print("lowest subgroup AUCs (term, subgroup, BPSN, BNSP):")
for i = 1, math.min(5, #per_term) do
   local item = per_term[i]
   print(("  %-12s %.3f  %.3f  %.3f"):format(item.term, item.subgroup, item.bpsn, item.bnsp))
end
run.log{phase = "audit", madlibs_subgroup_auc_power_mean = report.subgroup_auc_power_mean, madlibs_bpsn_auc_power_mean = report.bpsn_auc_power_mean,
        madlibs_bnsp_auc_power_mean = report.bnsp_auc_power_mean, madlibs_overall_auc = report.overall_auc}

-- Out of domain: Wikipedia comments.
local wiki = evaluate{model = model, forward = forward, data = data.wiki_toxicity(encoding), name = "wiki",
                      metrics = {accuracy = "accuracy", f1 = {type = "f1", average = "macro"}, roc_auc = "roc_auc"}}
print(("Wikipedia toxicity (out of domain): accuracy %.4f, macro F1 %.4f, ROC-AUC %.4f"):format(wiki.accuracy, wiki.f1, wiki.roc_auc))

-- Adversarial text: robust accuracy under embedding-space PGD and greedy word substitution, and an example.
local count = math.min(config.attack_limit, test.labels:numel())
local attacked = {tokens = test.tokens:narrow(1, 1, count), lengths = test.lengths:narrow(1, 1, count), labels = test.labels:narrow(1, 1, count)}
local text_attacks = {
   embedding_pgd = {type = "embedding_pgd", eps = config.embedding_eps, alpha = config.embedding_eps / 4, steps = 10},
   word_substitution = {type = "word_substitution", budget = config.substitution_budget, candidates = 10},
}
local robustness = evaluate{model = model, forward = forward, data = attacked, name = "text_attacks", attacks = text_attacks}
print(("robustness on %d test tweets: clean %.4f, embedding PGD (L2 %.2g per token) %.4f, word substitution (<= %d tokens) %.4f, worst case %.4f"):format(
   count, robustness.clean_accuracy, config.embedding_eps, robustness.robust_accuracy.embedding_pgd, config.substitution_budget,
   robustness.robust_accuracy.word_substitution, robustness.worst_case_accuracy))
-- Three tweets the substitution changes, each changed word shown as [original -> substitute] (words mode, with a
-- registered encoder: attack:perturb needs a module, and the default bag is a table of modules with a forward).
if tweets.vocabulary and config.encoder ~= "bag" then
   local shown_count = math.min(200, count)
   local originals = attacked.tokens:narrow(1, 1, shown_count):totable()
   local changed = attacks(text_attacks.word_substitution):perturb(model, attacked.tokens:narrow(1, 1, shown_count),
                                                                    attacked.labels:narrow(1, 1, shown_count)):totable()
   local labels = attacked.labels:narrow(1, 1, shown_count):totable()
   local shown = 0
   for row = 1, shown_count do
      local out, differs = {}, false
      for position, id in ipairs(originals[row]) do
         if id ~= 0 then
            local substitute = changed[row][position]
            if substitute ~= id then
               differs = true
               out[#out + 1] = "[" .. tweets.vocabulary[id + 1] .. " -> " .. tweets.vocabulary[substitute + 1] .. "]"
            else
               out[#out + 1] = tweets.vocabulary[id + 1]
            end
         end
      end
      if differs and shown < 3 then
         shown = shown + 1
         print(("  label %d: %s"):format(labels[row], table.concat(out, " ")))
      end
   end
end
