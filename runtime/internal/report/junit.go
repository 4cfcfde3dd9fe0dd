package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// WriteJUnit writes run as a JUnit XML file for CI systems. A run with a Ginkgo report is
// converted by Ginkgo's own JUnit reporter; a harness error becomes one errored test case, so a
// CI run that never got a report still shows why.
func WriteJUnit(run *Run, path string) error {
	if len(run.Raw) > 0 {
		var reports []types.Report
		if err := json.Unmarshal(run.Raw, &reports); err == nil && len(reports) == 1 {
			if err := reporters.GenerateJUnitReport(reports[0], path); err != nil {
				return fmt.Errorf("write junit %s: %w", path, err)
			}
			return nil
		}
	}
	suite := reporters.JUnitTestSuite{
		Name:      run.Suite,
		Package:   run.Suite,
		Tests:     1,
		Errors:    1,
		Time:      run.Duration.Seconds(),
		Timestamp: run.StartedAt.Format("2006-01-02T15:04:05"),
		TestCases: []reporters.JUnitTestCase{{
			Name:      "[wattson-runtime] run the suite",
			Classname: run.Suite,
			Status:    "error",
			Time:      run.Duration.Seconds(),
			Error:     &reporters.JUnitError{Message: "harness error", Type: "error", Description: run.Error},
			SystemOut: run.Output,
		}},
	}
	suites := reporters.JUnitTestSuites{Tests: 1, Errors: 1, Time: suite.Time, TestSuites: []reporters.JUnitTestSuite{suite}}
	b, err := xml.MarshalIndent(suites, "", "  ")
	if err != nil {
		return fmt.Errorf("write junit %s: %w", path, err)
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644); err != nil {
		return fmt.Errorf("write junit %s: %w", path, err)
	}
	return nil
}
