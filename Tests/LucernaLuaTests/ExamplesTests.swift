import Foundation
import LucernaTestSupport
import XCTest

/// Every recipe in `examples/` runs through `lucerna run` at a tiny size, and writes what it should: the run
/// folder's files and the metrics it logs (finite numbers). A new example needs an entry here, or the test
/// fails. The data-set examples need `LUCERNA_DATA` (CI sets it); elsewhere they are skipped, by name.
final class ExamplesTests: XCTestCase {
    struct Example {
        let overrides: [String]
        /// Metrics the run must log (in `metrics.jsonl`), as finite numbers.
        let metrics: [String]
        /// Text the run must print.
        var prints = ""
        /// Whether it reads data sets beyond Debian's Fashion-MNIST.
        var needsData = false
        /// Further runs, each with these overrides added (another data set of the same recipe).
        var variants: [[String]] = []
    }

    static let examples: [String: Example] = [
        "01_tensors": Example(overrides: [], metrics: [], prints: "matmul shape"),
        "02_fashion_cnn": Example(
            overrides: ["epochs=1", "limit=1000"], metrics: ["test_accuracy", "test_f1", "val_f1", "best_epoch"]),
        "03_swap_components": Example(overrides: ["epochs=10"], metrics: ["loss", "accuracy"]),
        "04_write_a_plugin": Example(overrides: [], metrics: ["loss", "step"]),
        "05_spoken_digits": Example(overrides: ["epochs=1"], metrics: ["test_accuracy"], needsData: true),
        "06_multimodal_mnist": Example(
            overrides: ["epochs=1", "limit=1000"], metrics: ["test_accuracy"], needsData: true),
        "07_toxic_text": Example(
            overrides: ["epochs=1", "attack_limit=50"],
            metrics: [
                "test_f1", "madlibs_bpsn_auc_power_mean", "madlibs_demographic_parity_difference", "wiki_roc_auc",
                "text_attacks_robust_word_substitution",
            ],
            needsData: true),
        "08_biased_mnist_audit": Example(
            overrides: ["epochs=1", "limit=2000"],
            metrics: ["independent_worst_group_accuracy", "reversed_demographic_parity_difference", "test_accuracy"],
            needsData: true),
        "09_explain_fashion": Example(
            overrides: ["epochs=1", "limit=1000", "samples=20"],
            metrics: [
                "grad_cam_pp_iou_xai", "lrp_epsilon_plus_relevance_mass", "saliency_deletion_auc", "test_accuracy",
            ]),
        "10_multimodal_fusion": Example(
            overrides: ["epochs=1", "limit=600", "test_limit=300", "explain=20"],
            metrics: ["cross_attention_robust_both_attacked", "gated_accuracy_without_audio", "test_accuracy"],
            needsData: true),
        "11_fashion_robustness": Example(
            overrides: [
                "epochs=1", "limit=600", "robust_limit=50", "curve_limit=40", "hidden=48", "train_steps=2",
                "apgd_steps=5", "square_queries=20", "autoattack_limit=30",
            ],
            metrics: [
                "trades_eps0_1_robust_pgd20", "pgd_at_autoattack_robust_worst_case",
                "standard_curve_robust_pgd20_eps0.1",
            ],
            variants: [["architecture=small_cnn"]]),
        // 12 explains the models of 11's run (fc1 of 48, not the default: 12 reads the widths from the checkpoints).
        "12_explanations_under_attack": Example(
            overrides: ["nested=false", "limit=40"],
            metrics: ["standard_iou", "pgd_at_fooled", "trades_rank_correlation"]),
        "13_tour": Example(
            overrides: ["epochs=1", "limit=1000", "audit=50"], metrics: ["test_accuracy", "audit_robust_pgd20"],
            prints: "PGD-20"),
        "14_decoy_mnist": Example(
            overrides: [
                "epochs=1", "limit=1000", "explained=100", "model=cnn", "method=rr_clarc", "plain_epochs=1",
                "concept_samples=100",
            ], metrics: ["test_accuracy", "decoy_saliency_share", "decoy_grad_cam_pp_share"],
            prints: "decoy share", needsData: true),
        "15_colored_mnist": Example(
            overrides: ["steps=3", "limit=600", "anneal=1", "method=jtt", "jtt_steps=2"],
            metrics: ["test_accuracy", "test_worst_group_accuracy", "train_environments_accuracy"],
            prints: "train accuracy", needsData: true),
        "16_guided_fashion": Example(
            overrides: ["epochs=1", "limit=300", "samples=50"], metrics: ["test_accuracy", "grad_cam_pp_iou_xai"],
            prints: "IoU-XAI"),
        "17_toxic_bias": Example(
            overrides: ["epochs=1", "limit=800"],
            metrics: ["test_accuracy", "madlibs_overall_auc", "madlibs_bpsn_auc_power_mean"],
            prints: "madlibs overall AUC", needsData: true),
        "18_reveal_to_revise": Example(
            overrides: ["limit=1000", "epochs=1", "evaluated=100", "rounds=1", "test_limit=300"],
            metrics: ["final_clean_accuracy", "final_poisoned_accuracy", "final_artifact_relevance", "annotated"],
            prints: "artifact relevance", needsData: true, variants: [["dataset=decoy_mnist"]]),
        "19_attention_gan": Example(
            overrides: [
                "quick=true", "steps=3", "limit=600", "holdout=100", "per_class=12", "references=12", "ssim_samples=4",
                "gan_train_epochs=1", "every_log=1", "every_images=2", "every_metrics=2", "metrics_per_class=5",
                "latent=8", "generator_channels={8,4}",
                "critic_channels={4,8}",
            ],
            metrics: [
                "gan_test_accuracy", "gan_train_accuracy", "gan_train_samples", "cluster_nmi", "classifier_fid",
                "generation_ssim", "real_ssim", "memorization_ratio", "wasserstein", "thick_share",
                "fairness_discrepancy", "judge_accuracy", "gan_test_accuracy_judge",
            ],
            prints: "GAN-test accuracy by the judge", needsData: true),
        "20_spoken_to_image": Example(
            overrides: [
                "quick=true", "steps=2", "limit=600", "test_pairs=100", "classifier_epochs=1", "every_log=1",
                "every_images=2", "every_metrics=2", "curve_pairs=20", "latent=8", "generator_channels={8,4}",
                "critic_channels={4,8}", "dim=8",
            ],
            metrics: [
                "reconstruction_ssim", "class_mean_ssim", "spoken_gan_test_accuracy", "spoken_only_accuracy",
                "reconstruction_l1", "curve_reconstruction_ssim",
            ],
            prints: "spoken digit → image", needsData: true),
        "paper/model": Example(
            overrides: [
                "quick=true", "limit=600", "test_limit=200", "epochs=1", "explained=50", "attacked=50", "dim=16",
            ],
            metrics: [
                "test_accuracy", "test_f1", "worst_speaker_accuracy", "speaker_accuracy_gap", "iou_xai_box",
                "iou_xai_top20", "robust_accuracy_pgd20",
            ],
            prints: "IoU-XAI", needsData: true, variants: [["variant=image"], ["variant=late"]]),
    ]

    func testEveryExampleRunsAtATinySize() throws {
        let root = Fixture.repositoryRoot
        // The examples, and the paper's recipes in examples/paper/ as `paper/<name>` (its claims file is data,
        // tested with scripts/reproduce.sh).
        let names = try ["", "paper/"].flatMap { folder in
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("examples/\(folder)").path)
                .filter { $0.hasSuffix(".lua") && $0 != "claims.lua" }.map { folder + String($0.dropLast(4)) }
        }.sorted()
        XCTAssertEqual(names, Self.examples.keys.sorted(), "every example needs tiny settings in ExamplesTests")
        let environment = ProcessInfo.processInfo.environment
        let hasData = environment["LUCERNA_DATA"] != nil
        let inCI = environment["CI"] != nil
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("examples-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var skipped: [String] = []
        for name in names {
            guard let example = Self.examples[name] else { continue }
            if example.needsData && !hasData && !inCI {
                skipped.append(name)
                continue
            }
            for (variant, extra) in ([[]] + example.variants).enumerated() {
                try check(name, example, variant: variant, overrides: extra, scratch: scratch, root: root)
            }
        }
        if !skipped.isEmpty { throw XCTSkip("examples that need LUCERNA_DATA: \(skipped.joined(separator: ", "))") }
    }

    /// Runs one example with its tiny settings and `overrides` in `scratch/<name>-<variant>`, and checks its
    /// files, output and metrics.
    func check(
        _ name: String, _ example: Example, variant: Int, overrides extra: [String], scratch: String, root: URL
    ) throws {
        let folder = "\(scratch)/\(name.replacingOccurrences(of: "/", with: "-"))-\(variant)"
        var overrides = example.overrides + extra
        if name == "12_explanations_under_attack" { overrides.append("from=\(scratch)/11_fashion_robustness-0") }
        let result = try lucerna(
            ["run", "examples/\(name).lua", "--seed", "1", "--threads", "2", "--out", folder]
                + overrides.flatMap { ["--set", $0] })
        XCTAssertEqual(result.status, 0, "\(name) \(extra): \(result.errors.suffix(2000))")
        guard result.status == 0 else { return }
        let recipe = try String(contentsOf: root.appendingPathComponent("examples/\(name).lua"), encoding: .utf8)
        let files =
            ["run.json", "recipe.lua", "report.md", "report.html"]
            + (recipe.contains("lucerna.config") ? ["config.json"] : [])
        for file in files {
            XCTAssert(FileManager.default.fileExists(atPath: "\(folder)/\(file)"), "\(name) wrote no \(file)")
        }
        if !example.prints.isEmpty {
            XCTAssert(result.output.contains(example.prints), "\(name) printed \(result.output.suffix(500))")
        }
        guard !example.metrics.isEmpty else { return }
        var logged: [String: Double] = [:]
        let text = (try? String(contentsOfFile: "\(folder)/metrics.jsonl", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            for (key, value) in record { if let number = value as? Double { logged[key] = number } }
        }
        for metric in example.metrics {
            guard let value = logged[metric] else {
                XCTFail("\(name) did not log \(metric)")
                continue
            }
            XCTAssert(value.isFinite, "\(name): \(metric) = \(value)")
        }
    }
}
