import java.io.FileInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;

/** Reads each zip as Alma's Java side may: ZipFile and ZipInputStream; prints OK or FAIL. */
public class JdkZipRead {
    public static void main(String[] args) {
        for (String path : args) {
            String failure = null;
            try (ZipFile zip = new ZipFile(path)) {
                var entries = zip.entries();
                while (entries.hasMoreElements()) {
                    zip.getInputStream(entries.nextElement()).readAllBytes();
                }
            } catch (Exception e) {
                failure = "ZipFile: " + e;
            }
            if (failure == null) {
                try (ZipInputStream in = new ZipInputStream(new FileInputStream(path))) {
                    ZipEntry entry;
                    while ((entry = in.getNextEntry()) != null) {
                        in.readAllBytes();
                    }
                } catch (Exception e) {
                    failure = "ZipInputStream: " + e;
                }
            }
            System.out.println((failure == null ? "OK " : "FAIL ") + path
                + (failure == null ? "" : " " + failure));
        }
    }
}
