--[[ 17_toxic_bias.lua: bias-aware training of the toxic-tweet classifier, audited on the identity-term madlibs.
Davidson et al.'s tweets with identity-term subgroups (data.toxic_text{identity = true}: a tweet's group is the
first identity term of the Conversation AI list it mentions; token_masks mark identity words). A bag-of-
embeddings classifier (the mean of 64-dimensional word embeddings, then a linear layer) is trained with one of:
  plain                  cross-entropy only;
  token_penalty          rrr on the embedding output over the identity-word tokens (weight `penalty`): each
                         identity word's attribution, gradient x embedding (Liu & Avci 2019's prior; with
                         `attribution = "gradient"`, Ross et al.'s input gradient), is pushed to zero;
  group_dro              group DRO over (identity mention, label) groups (step size `dro_step`);
  reweighing             weights that make identity mention and label independent;
  adversarial_debiasing  an adversary predicts the identity mention from the prediction and the label.
`grouping = "any"` (default) makes the group "mentions an identity term or not"; "term" keeps one group per term.
The model differs from examples/07's in three defaults, each an option: `init = "fasttext"` starts the
embeddings uniform in +-1/dim as fastText does (07: N(0, 1), so a word seen in few tweets keeps a large random
vector); `unknown = "ignore"` leaves words outside the vocabulary out of the mean as fastText does (07
embeds them as <unk>, which then stands for every rare identity term of the madlibs); `masks = "words"` marks
every word of the identity-term list ("middle" of "middle eastern" too; "terms": whole terms only).
Protocol as examples/07 (stratified 80/20 split by the run's seed, 20 % of train for validation, AdamW +
cosine, early stopping on validation macro F1). The audit on the madlibs: overall AUC, the power means of the
subgroup, BPSN and BNSP AUCs (Borkan et al.), the Jigsaw final bias metric and the demographic-parity
difference over the 50 identity terms (sentences naming none are in no subgroup).
Run:  .build/release/lucerna run examples/17_toxic_bias.lua --set method=token_penalty     (3 seeds)
      .build/release/lucerna run examples/17_toxic_bias.lua --set method=plain ]]

local config = lucerna.config{seeds = {1, 2, 3}, method = "token_penalty", grouping = "any", epochs = 12, batch = 128,
                              dim = 64, patience = 3, lr = 3e-3, penalty = 1000, attribution = "gradient_times_input",
                              dro_step = 0.01, alpha = 0.1, init = "fasttext", unknown = "ignore", masks = "words",
                              limit = 0}
lucerna.manual_seed(run.seed)
local encoding = {tokens = "words", seed = run.seed, limit = config.limit > 0 and config.limit or nil}
local tweets = data.toxic_text(lucerna.merge(encoding, {split = "train", identity = true, identity_masks = config.masks}))
local test = data.toxic_text(lucerna.merge(encoding, {split = "test", identity = true}))
local madlibs = data.identity_madlibs{tokens = "words", seed = run.seed}
assert(config.grouping == "any" or config.grouping == "term", "grouping must be any or term")
if config.grouping == "any" then
   local none = #tweets.group_names - 1   -- the last group: no identity term
   tweets.groups = tweets.groups:lt(none):long()
   test.groups = test.groups:lt(none):long()
end

local regularizers = {
   plain = {}, group_dro = {}, reweighing = {}, adversarial_debiasing = {},
   token_penalty = {{type = "rrr", weight = config.penalty, layer = "embedding", mask = "token_masks",
                     attribution = config.attribution}},
}
local methods = {
   group_dro = {type = "group_dro", step_size = config.dro_step},
   reweighing = "reweighing",
   adversarial_debiasing = {type = "adversarial_debiasing", alpha = config.alpha},
}
assert(regularizers[config.method],
       "method must be plain, token_penalty, group_dro, reweighing or adversarial_debiasing")

local model = {embedding = nn.Embedding(tweets.vocabulary_size, config.dim), head = nn.Linear(config.dim, 2)}
assert(config.init == "normal" or config.init == "fasttext", "init must be normal or fasttext")
if config.init == "fasttext" then   -- fastText's input vectors: uniform in +-1/dim (PyTorch's default is N(0, 1))
   for _, weight in pairs(model.embedding:named_parameters()) do nn.init.uniform_(weight, -1 / config.dim, 1 / config.dim) end
end
assert(config.unknown == "embed" or config.unknown == "ignore", "unknown must be embed or ignore")
local first = config.unknown == "ignore" and 1 or 0   -- token ids above this count: 0 is padding, 1 unknown
local function forward(batch)
   local mask = batch.tokens:float():gt(first):unsqueeze(-1)
   local summed = (model.embedding(batch.tokens) * mask):sum(2)
   return model.head(summed / (mask:sum(2) + 1e-6))
end
local result = train{
   model = model, forward = forward, data = tweets, validation = 0.2, test = test,
   optimizer = {type = "adamw", lr = config.lr, weight_decay = 1e-2}, schedule = "cosine",
   epochs = config.epochs, batch = config.batch, regularizers = regularizers[config.method],
   method = methods[config.method],
   early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
   metrics = {accuracy = "accuracy", f1 = {type = "f1", average = "macro"}},
}

local audit = evaluate{
   model = model, forward = forward, data = madlibs, name = "madlibs",
   metrics = {accuracy = "accuracy", bias_auc = "bias_auc",
              demographic_parity_difference = "demographic_parity_difference"},
}
local report = audit.reports.bias_auc
run.log{phase = "audit", method = config.method, madlibs_overall_auc = report.overall_auc,
        madlibs_subgroup_auc_power_mean = report.subgroup_auc_power_mean,
        madlibs_bpsn_auc_power_mean = report.bpsn_auc_power_mean,
        madlibs_bnsp_auc_power_mean = report.bnsp_auc_power_mean}
print(("%s: test accuracy %.4f, macro F1 %.4f; madlibs overall AUC %.4f, subgroup %.4f, BPSN %.4f, BNSP %.4f, final bias metric %.4f, DP difference %.4f"):format(
   config.method, result.test.accuracy, result.test.f1, report.overall_auc, report.subgroup_auc_power_mean,
   report.bpsn_auc_power_mean, report.bnsp_auc_power_mean, audit.bias_auc, audit.demographic_parity_difference))
