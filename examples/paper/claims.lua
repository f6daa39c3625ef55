-- The claims of the paper's abstract (../shared/seed/abstract.txt), each mapped to the experiment of
-- examples/paper/experiments.tsv that measures it; `lucerna report --claims` judges them (docs/guide/reproduce.md).
-- Targets are this project's own (issues 25 and 26), not the paper's.
local baselines = {"main-image", "main-audio", "main-concat", "main-late"}
local image_baselines = {"main-image", "main-concat", "main-late"}
local main = "Multimodal MNIST: the full model against the baselines"
local ablations = "Ablations: each part contributes independently"
local robustness = "Robustness on Fashion-MNIST"
local generation = "Generation"
local fairness = "Fairness across protected subgroups"
local box_rule = "IoU-XAI here: Grad-CAM++ of the image branch's last block (encoders.image.relu2) for the label, the "
                 .. "box rule of CAM/Grad-CAM (largest 8-connected component above 15 % of the maximum, its box "
                 .. "against the box of the digit's pixels above 0.1); the paper does not state its rule"
local first_block = "the same rule on the first block's map (encoders.image.relu1, 28 × 28), which follows the strokes "
                    .. "with or without explanation feedback: the baselines score about as high there"
-- The full setting trains 4 epochs on 10,000 images to fit the 3-hour budget; the best figure is the recipe's own.
local robust_budget = "here 4 epochs on 10,000 of the training images (80/20 split), PGD-20 on the first 1,000 test "
                      .. "images, to fit the 3-hour budget; the recipe's own setting (up to 30 epochs on all 60,000, "
                      .. "three seeds, all 10,000 test images) measured "

return {
   title = "The paper's claims beside Lucerna's measurements",
   claims = {
      {section = main, claim = "accuracy 93.2 %", paper = 0.932, run = "main-full", metric = "test_accuracy",
       unit = "%", target = 0.99},
      {section = main, claim = "macro F1 91.6 %", paper = 0.916, run = "main-full", metric = "test_f1", unit = "%",
       target = 0.99},
      {section = main, claim = "IoU-XAI 78.1 %", paper = 0.781, run = "main-full", metric = "iou_xai_box",
       unit = "%", target = 0.85, note = box_rule},
      {section = main, claim = "IoU-XAI 78.1 % (first block)", paper = 0.781, run = "main-full",
       metric = "iou_xai_box_relu1", unit = "%", target = 0.85, note = first_block},
      {section = main, claim = "IoU-XAI 78.1 % (top-20 % pixel rule)", paper = 0.781, run = "main-full",
       metric = "iou_xai_top20", unit = "%",
       note = "the same maps, the top 20 % of their pixels against the digit's pixels above 0.1"},
      {section = main, claim = "outperforms all baselines: accuracy", run = "main-full", metric = "test_accuracy",
       over = baselines},
      {section = main, claim = "outperforms all baselines: macro F1", run = "main-full", metric = "test_f1",
       over = baselines},
      {section = main, claim = "outperforms all baselines: IoU-XAI", run = "main-full", metric = "iou_xai_box",
       over = image_baselines, note = "audio only has no image map"},
      {section = main, claim = "outperforms all baselines: IoU-XAI (first block)", run = "main-full",
       metric = "iou_xai_box_relu1", over = image_baselines, note = "audio only has no image map"},

      {section = ablations, claim = "cross-modal attention fusion (against concatenation)", run = "main-full",
       metric = "test_accuracy", over = {"ablation-no_cross_attention"}},
      {section = ablations, claim = "Grad-CAM++ explanation feedback (IoU-XAI)", run = "main-full",
       metric = "iou_xai_box", over = {"ablation-no_explanation"}},
      {section = ablations, claim = "Grad-CAM++ explanation feedback (IoU-XAI, first block)", run = "main-full",
       metric = "iou_xai_box_relu1", over = {"ablation-no_explanation"}},
      {section = ablations, claim = "bias regularization (worst speaker's accuracy)", run = "main-full",
       metric = "worst_speaker_accuracy", over = {"ablation-no_bias"}},
      {section = ablations, claim = "adversarial training (PGD-20 on the image)", run = "main-full",
       metric = "robust_accuracy_pgd20", over = {"ablation-no_adversarial"}},
      {section = ablations, claim = "the GAN's self-attention (GAN-test accuracy)", run = "gan-mnist",
       metric = "gan_test_accuracy", over = {"gan-mnist-no_attention"}},

      {section = robustness, claim = "adversarial training restores 73-77 % (TRADES, PGD-20 at ε = 0.1)",
       paper = {0.73, 0.77}, run = "robust-fashion", metric = "trades_eps0_1_robust_pgd20", unit = "%",
       target = 0.80, note = robust_budget .. "TRADES 78.03 ± 0.23 % (docs/results.md; the best single run, seed 1 "
                                      .. "over 60 epochs, 78.70 %)"},
      {section = robustness, claim = "adversarial training restores 73-77 % (PGD-AT, PGD-20 at ε = 0.1)",
       paper = {0.73, 0.77}, run = "robust-fashion", metric = "pgd_at_eps0_1_robust_pgd20", unit = "%",
       target = 0.80, note = robust_budget .. "PGD-AT 77.56 ± 0.12 % (docs/results.md)"},

      {section = generation, claim = "SSIM 88.8 % (reconstruction from a concatenation classifier's embedding)",
       paper = 0.888, run = "spoken", metric = "reconstruction_ssim", unit = "%", target = 0.90,
       note = "each test pair's image redrawn from its own fused embedding (image and spoken digit), SSIM against it",
       longer = {setting = "9,000 steps (docs/results.md)",
                 records = {"docs/generation-runs/recon-9k/seed-1", "docs/generation-runs/recon-9k-s23/seed-2",
                            "docs/generation-runs/recon-9k-s23/seed-3"}}},
      {section = generation, claim = "SSIM 88.8 % (reconstruction from the integrated model's fused embedding)",
       paper = 0.888, run = "main-full", metric = "generation_reconstruction_ssim", unit = "%", target = 0.90,
       note = "the generator conditioned on the full model's cross-modal attention embedding, each test pair redrawn "
              .. "from its own; its GAN-test accuracy is generation_gan_test_accuracy in the run's record"},
      {section = generation, claim = "SSIM 88.8 % (generated digits against real ones)", paper = 0.888,
       run = "gan-mnist", metric = "generation_ssim", unit = "%", comparable = false,
       why = "the best SSIM of a generated digit to a real one of its class is bounded by real digits' own figure "
             .. "(real_ssim, about 0.69): 0.888 there would mean copying training digits"},
      {section = generation, claim = "NMI 84.9 % (MNIST, cluster NMI in the auditor's features)", paper = 0.849,
       run = "gan-mnist", metric = "cluster_nmi", unit = "%", target = 0.90,
       longer = {setting = "the medium model at 9,000 steps (docs/results.md)",
                 records = {"docs/generation-runs/headline-9k/seed-1", "docs/generation-runs/headline-9k/seed-2",
                            "docs/generation-runs/headline-9k/seed-3"}}},
      {section = generation, claim = "NMI 84.9 % (Fashion-MNIST)", paper = 0.849, run = "gan-fashion",
       metric = "cluster_nmi", unit = "%", target = 0.70, comparable = false,
       why = "the paper gives one NMI without its data set; ClusterGAN's Fashion-MNIST figure is 61.6 %"},
      {section = generation, claim = "explanations improve structural coherence (generation SSIM)",
       run = "gan-mnist", metric = "generation_ssim", over = {"gan-mnist-no_explanation"}},
      {section = generation, claim = "explanations improve structural coherence (cluster NMI)", run = "gan-mnist",
       metric = "cluster_nmi", over = {"gan-mnist-no_explanation"}},

      {section = fairness, claim = "bias feedback evens the generated subgroups (thick-stroke share's gap to 1/2)",
       run = "gan-mnist", metric = "thick_share_gap", higher = false, over = {"gan-mnist-no_bias"}},
      {section = fairness,
       claim = "Reveal-to-Revise in the multimodal classifier (image branch): poisoned accuracy gained by the loop",
       run = "r2r-main-image", metric = "r2r_poisoned_accuracy_gain", unit = "%", comparable = false,
       why = "the abstract names the loop and gives no figure for it",
       note = "a square on 10 % of class 0's training images; accuracy with it on every test image, after the loop "
              .. "minus before (r2r_poisoned_accuracy_before/_after in the run's record)"},
      {section = fairness,
       claim = "Reveal-to-Revise on artifact MNIST: accuracy on the artifact subgroup, after the loop over before",
       run = "fair-r2r", metric = "final_poisoned_accuracy", over = {"fair-r2r"},
       baseline_metric = "plain_poisoned_accuracy", unit = "%",
       note = "examples/18's own setting (60,000 images, a square on 10 % of class 0's), every test image with "
              .. "the square; when SpRAy's top cluster misses the artifact the loop keeps no round and the model "
              .. "stays as it was"},
      {section = fairness,
       claim = "Reveal-to-Revise on artifact MNIST: the artifact's share of relevance, after the loop below before",
       run = "fair-r2r", metric = "final_artifact_relevance", over = {"fair-r2r"},
       baseline_metric = "plain_artifact_relevance", higher = false, unit = "%"},
      {section = fairness, claim = "Colored MNIST: IRM over ERM (test accuracy)", run = "fair-colored-irm",
       metric = "test_accuracy", over = {"fair-colored-erm"}},
      {section = fairness, claim = "Colored MNIST: group DRO over ERM (test accuracy)", run = "fair-colored-group_dro",
       metric = "test_accuracy", over = {"fair-colored-erm"}},
      {section = fairness, claim = "toxic text: the identity-token penalty over plain training (madlibs BPSN AUC)",
       run = "fair-toxic-token_penalty", metric = "madlibs_bpsn_auc_power_mean", over = {"fair-toxic-plain"}},
   },
}
