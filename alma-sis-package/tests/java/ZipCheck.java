// Opens each zip the way Alma (a Java program) does: java.util.zip.ZipFile, then the JDK's SAX
// parser on every entry, with DTDs and external entities disabled. Prints one line per entry:
//   <zip path>\t<entry name>\t<user count>
// and exits 1 on the first zip or entry that cannot be read.
//
// Run with Java 11 or later as a single-file program: java ZipCheck.java a.zip b.zip

import java.io.InputStream;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import javax.xml.XMLConstants;
import javax.xml.parsers.SAXParser;
import javax.xml.parsers.SAXParserFactory;
import org.xml.sax.Attributes;
import org.xml.sax.helpers.DefaultHandler;

public class ZipCheck {
    static final class UserCounter extends DefaultHandler {
        int depth = 0;
        long users = 0;

        @Override
        public void startElement(String uri, String local, String qName, Attributes atts) {
            if (depth == 1 && qName.equals("user")) {
                users++;
            }
            depth++;
        }

        @Override
        public void endElement(String uri, String local, String qName) {
            depth--;
        }
    }

    public static void main(String[] args) throws Exception {
        SAXParserFactory factory = SAXParserFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
        factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setNamespaceAware(false);
        for (String path : args) {
            try (ZipFile zip = new ZipFile(path)) {
                Enumeration<? extends ZipEntry> entries = zip.entries();
                while (entries.hasMoreElements()) {
                    ZipEntry entry = entries.nextElement();
                    UserCounter counter = new UserCounter();
                    SAXParser parser = factory.newSAXParser();
                    try (InputStream in = zip.getInputStream(entry)) {
                        parser.parse(in, counter);
                    }
                    System.out.println(path + "\t" + entry.getName() + "\t" + counter.users);
                }
            } catch (Exception e) {
                System.err.println(path + ": " + e);
                System.exit(1);
            }
        }
    }
}
